"""Jira endpoints under ``/api/integrations/jira/``.

- ``webhook/`` (alias ``upsert/``): Jira admin webhook deliveries. Verified, stored, queued;
  answers 202 once durable (200 for a redelivery), 401 unsigned/badly signed, 400 not a Jira
  delivery, 403 another project (unless an app claimed it: ``signals.project_claimed``), 503
  when it cannot store (Jira then retries).
- ``reconcile/``: agents and admins pull the issues updated in a window now.
- ``status/``: what the integration is configured to do and what is waiting.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, DataError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.jira import client as jira_client
from integrations.jira.inbound import (
    HANDLED_EVENTS,
    DeliveryRefused,
    accepted_projects,
    check_payload,
    content_key,
    delivery_identifier,
    project_of,
    route_project,
    store_receipt,
    verify_delivery,
)
from integrations.jira.models import OutboundChange, ReceiptState, ReconcileTrigger, WebhookReceipt
from integrations.jira.outbound import is_push_enabled
from integrations.jira.reconcile import ReconcileError, run_reconcile
from integrations.jira.tasks import reconcile as reconcile_task
from itsm.api import ErrorSerializer
from itsm.lib import safe_json
from itsm.lib.tasks import defer_once
from itsm.permissions import IsAgent
from itsm.security.throttling import WebhookRateThrottle

logger = logging.getLogger(__name__)

WebhookAnswer = inline_serializer(
    "JiraWebhookAnswer",
    {
        "status": serializers.CharField(),
        "receipt": serializers.IntegerField(required=False),
        "detail": serializers.CharField(required=False),
    },
)


@extend_schema(
    summary="Jira webhook delivery (issue and comment events)",
    description=(
        "Configure a Jira admin webhook with a secret: deliveries are verified by their "
        "X-Hub-Signature (HMAC of the raw body) or the shared secret header."
    ),
    request={"application/json": dict},
    responses={
        202: WebhookAnswer,
        200: WebhookAnswer,
        400: WebhookAnswer,
        401: WebhookAnswer,
        403: WebhookAnswer,
        503: WebhookAnswer,
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([WebhookRateThrottle])
def webhook(request: Request) -> Response:
    body = request.body  # the raw bytes: the signature covers exactly these
    try:
        verify_delivery(body, request.headers)
    except DeliveryRefused as refused:
        return Response({"status": "refused", "detail": refused.detail}, status=refused.status)
    try:
        payload = safe_json.loads(body)
        event, issue = check_payload(payload)
    except (ValueError, UnicodeDecodeError) as error:
        return Response({"status": "refused", "detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
    if event not in HANDLED_EVENTS:
        return Response({"status": "ignored", "detail": _("%(event)s is not handled.") % {"event": event}})
    try:
        project = project_of(payload)
        for_tickets = route_project(project)
        if for_tickets is None:
            return Response(
                {
                    "status": "refused",
                    "detail": _("Project %(project)s is not synchronised here (accepted: %(accepted)s).")
                    % {"project": project or "?", "accepted": ", ".join(sorted(accepted_projects())) or "-"},
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        receipt_id, created = store_receipt(
            identifier=delivery_identifier(request.headers, body),
            event=event,
            issue=issue,
            payload=payload,
            flow=request.headers.get("X-Atlassian-Webhook-Flow", ""),
            retry_count=retry_count(request.headers.get("X-Atlassian-Webhook-Retry")),
            content_key=content_key(event, payload, body),
            for_tickets=for_tickets,
        )
    except DataError as error:
        # The database refuses this content itself: retrying can never store it, so the answer
        # is a 4xx (Jira stops retrying) rather than a 503 that would be retried forever.
        logger.warning("Refused a Jira delivery the database cannot store: %s", error)
        return Response(
            {"status": "refused", "detail": _("The delivery cannot be stored: %(error)s") % {"error": error}},
            status=status.HTTP_400_BAD_REQUEST,
        )
    except DatabaseError:
        logger.exception("Could not store a Jira delivery")
        response = Response(
            {"status": "unavailable", "detail": _("Could not store the delivery; retry later.")},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = "30"
        return response
    if not created:
        return Response({"status": "duplicate", "receipt": receipt_id})
    return Response({"status": "queued", "receipt": receipt_id}, status=status.HTTP_202_ACCEPTED)


# Jira retries a delivery a handful of times; anything beyond this is not a real count.
MAX_RETRY_COUNT = 1000


def retry_count(value: str | None) -> int:
    """``X-Atlassian-Webhook-Retry`` as a count: garbage is 0, an absurd number is capped."""
    try:
        return min(max(0, int((value or "0").strip())), MAX_RETRY_COUNT)
    except ValueError:
        return 0


class ReconcileInput(serializers.Serializer):
    since = serializers.CharField(
        required=False,
        help_text="YYYY-MM-DD or an ISO 8601 datetime (default: the "
        "lookback of JIRA_AUTO_RECONCILE_LOOKBACK_DAYS)",
    )
    background = serializers.BooleanField(required=False, default=False)

    def validate_since(self, value: str) -> datetime:
        return parse_since(value)


def parse_since(value: str) -> datetime:
    """A date (midnight UTC) or an ISO datetime (UTC when naive), not in the future."""
    text = (value or "").strip()
    try:
        moment = parse_datetime(text)
        day = parse_date(text) if moment is None else None
    except ValueError:
        moment = day = None
    if day is not None:
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if moment is None:
        raise serializers.ValidationError(
            _("%(value)r is not a date (YYYY-MM-DD) or an ISO 8601 datetime.") % {"value": value}
        )
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    if moment > timezone.now():
        raise serializers.ValidationError(_("since is in the future."))
    return moment


ReconcileReport = inline_serializer(
    "JiraReconcileReport",
    {
        "id": serializers.IntegerField(),
        "trigger": serializers.CharField(),
        "since": serializers.DateTimeField(),
        "ok": serializers.BooleanField(allow_null=True),
        "pages": serializers.IntegerField(),
        "seen": serializers.IntegerField(),
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        "skipped": serializers.IntegerField(),
        "drift": serializers.ListField(child=serializers.DictField()),
        "error": serializers.CharField(),
    },
)


@extend_schema(
    summary="Reconcile with Jira now",
    request=ReconcileInput,
    responses={
        200: ReconcileReport,
        202: OpenApiResponse(description="Queued (background: true)"),
        400: OpenApiResponse(description="Bad since"),
        409: OpenApiResponse(ErrorSerializer, description="Not configured, or a reconcile already waits"),
        502: ReconcileReport,
    },
)
@api_view(["POST"])
@permission_classes([IsAgent])
def reconcile(request: Request) -> Response:
    serializer = ReconcileInput(data=request.data)
    serializer.is_valid(raise_exception=True)
    since = serializer.validated_data.get("since") or (
        timezone.now() - timedelta(days=settings.JIRA_AUTO_RECONCILE_LOOKBACK_DAYS)
    )
    if not jira_client.is_configured():
        return Response(
            {"detail": _("Jira is not configured: set JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN.")},
            status=status.HTTP_409_CONFLICT,
        )
    if serializer.validated_data["background"]:
        job_id = defer_once(
            reconcile_task, lock="jira-reconcile", since=since.isoformat(), trigger=ReconcileTrigger.API
        )
        if job_id is None:
            return Response(
                {"detail": _("A reconcile is already waiting to run.")}, status=status.HTTP_409_CONFLICT
            )
        return Response({"status": "queued", "job": job_id}, status=status.HTTP_202_ACCEPTED)
    try:
        run = run_reconcile(since=since, trigger=ReconcileTrigger.API)
    except ReconcileError as error:
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    return Response(run.report(), status=status.HTTP_200_OK if run.ok else status.HTTP_502_BAD_GATEWAY)


@extend_schema(summary="Jira integration status", responses={200: dict})
@api_view(["GET"])
@permission_classes([IsAgent])
def integration_status(request: Request) -> Response:
    return Response(
        {
            "inbound": bool(settings.JIRA_WEBHOOK_SECRET),
            "outbound": is_push_enabled(),
            "configured": jira_client.is_configured(),
            "projects": sorted(accepted_projects()),
            "auto_reconcile": settings.JIRA_AUTO_RECONCILE_ENABLED,
            "receipts_waiting": WebhookReceipt.objects.filter(state=ReceiptState.PENDING).count(),
            "changes_waiting": OutboundChange.objects.unfinished().count(),
        }
    )
