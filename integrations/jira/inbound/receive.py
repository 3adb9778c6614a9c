"""Inbound Jira, the web request: verify a delivery, check it, store it, queue it.

The request only checks the signature, the project and the shape, stores a ``WebhookReceipt``
(unique by ``X-Atlassian-Webhook-Identifier``) and defers its processing in the same
transaction, so a 2xx means the delivery is durable. The worker applies it
(``integrations.jira.inbound.apply``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from procrastinate.contrib.django import app

from integrations.jira.inbound.apply import COMMENT_EVENTS, HANDLED_EVENTS
from integrations.jira.mapper import IssueView
from integrations.jira.models import ProjectKey, ReceiptState, WebhookReceipt
from integrations.jira.signals import is_claimed

logger = logging.getLogger(__name__)

# Deferred by name through procrastinate's registry: ``integrations.jira.tasks`` imports the
# worker side of this package, so the web side does not import the tasks back.
PROCESS_RECEIPT_TASK = "integrations.jira.tasks.process_receipt"

# WebSub allows these; Jira signs with sha256 today and may change ("parse the method").
SIGNATURE_METHODS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class DeliveryRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail
        super().__init__(detail)


def verify_signature(body: bytes, header: str, secret: str) -> None:
    """``X-Hub-Signature: method=hex`` over the raw body (WebSub); raises ``DeliveryRefused``."""
    method, separator, signature = header.strip().partition("=")
    method = method.strip().lower()
    if not separator or not signature.strip():
        raise DeliveryRefused(401, _("X-Hub-Signature must look like sha256=<hex digest>."))
    if method not in SIGNATURE_METHODS:
        raise DeliveryRefused(
            401, _("Unsupported X-Hub-Signature method %(method)r; expected sha256.") % {"method": method}
        )
    expected = hmac.new(secret.encode(), body, SIGNATURE_METHODS[method]).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise DeliveryRefused(401, _("The X-Hub-Signature does not match the body."))


def verify_delivery(body: bytes, headers: Any) -> None:
    """A signed delivery (X-Hub-Signature) or the shared secret in a header; else 401."""
    secret = settings.JIRA_WEBHOOK_SECRET
    if not secret:
        raise DeliveryRefused(
            503, _("The Jira webhook is not configured here (JIRA_WEBHOOK_SECRET is unset).")
        )
    signature = headers.get("X-Hub-Signature")
    if signature is not None:
        verify_signature(body, signature, secret)
        return
    for name in settings.JIRA_WEBHOOK_SECRET_HEADERS:
        given = headers.get(name)
        if given is not None:
            if hmac.compare_digest(given.strip().encode(), secret.encode()):
                return
            raise DeliveryRefused(
                401, _("The %(header)s header does not match the shared secret.") % {"header": name}
            )
    raise DeliveryRefused(401, _("Unsigned delivery: send X-Hub-Signature or the shared secret header."))


def configured_projects() -> set[str]:
    return {key.strip().upper() for key in settings.JIRA_PROJECT_KEY if key.strip()}


def accepted_projects() -> set[str]:
    return configured_projects() | set(ProjectKey.objects.values_list("key", flat=True))


def accept_project(project_key: str) -> bool:
    """Configured keys (JIRA_PROJECT_KEY or the admin); unset: pin the first project seen."""
    project_key = project_key.upper()
    if project_key in configured_projects():
        return True  # the common case answers without a query
    accepted = accepted_projects()
    if accepted:
        return project_key in accepted
    with transaction.atomic():
        # Two first deliveries may race: one pins its project, the other is then compared to it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended('jira-project-detect', 0))")
        if not ProjectKey.objects.exists():
            ProjectKey.objects.create(key=project_key, detected=True)
            logger.warning(
                "JIRA_PROJECT_KEY is unset: pinned Jira project %s from the first delivery", project_key
            )
        return ProjectKey.objects.filter(key=project_key).exists()


def route_project(project_key: str) -> bool | None:
    """Where a delivery of this project goes: ``True`` tickets, ``False`` only the listeners
    that claimed the project (``signals.project_claimed``), ``None`` nowhere (refused).

    A claimed project is never pinned as the ticket project when JIRA_PROJECT_KEY is unset.
    """
    project_key = project_key.upper()
    if project_key in configured_projects():
        return True
    accepted = accepted_projects()
    if project_key in accepted:
        return True
    if is_claimed(project_key):
        return False
    if accepted:
        return None
    return True if accept_project(project_key) else None


def project_of(payload: dict) -> str:
    return IssueView.project_of(payload.get("issue"))


def check_payload(payload: Any) -> tuple[str, dict]:
    """The event name and issue of a delivery we handle; ``ValueError`` names what is wrong."""
    if not isinstance(payload, dict):
        raise ValueError(_("The body must be a JSON object."))
    event = payload.get("webhookEvent")
    if not isinstance(event, str) or not event:
        raise ValueError(_("The body has no webhookEvent."))
    issue = payload.get("issue")
    if event in HANDLED_EVENTS:
        if not isinstance(issue, dict) or not issue.get("id") or not issue.get("key"):
            raise ValueError(_("A %(event)s delivery needs issue.id and issue.key.") % {"event": event})
        if event in COMMENT_EVENTS and (
            not isinstance(payload.get("comment"), dict) or not payload["comment"].get("id")
        ):
            raise ValueError(_("A %(event)s delivery needs comment.id.") % {"event": event})
    return event, issue if isinstance(issue, dict) else {}


def delivery_identifier(headers: Any, body: bytes) -> str:
    given = (headers.get("X-Atlassian-Webhook-Identifier") or "").strip()
    return given[:255] if given else "sha256:" + hashlib.sha256(body).hexdigest()


def content_key(event: str, payload: dict, body: bytes) -> str:
    """What the signed body says happened: the event, the issue (id and key), its ``updated`` time or the
    comment and its time, and the delivery's ``timestamp``. The identifier header is not
    signed, so a replayed body under a new identifier must still be recognised by this."""
    issue = payload.get("issue") if isinstance(payload.get("issue"), dict) else {}
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    comment = payload.get("comment") if isinstance(payload.get("comment"), dict) else {}
    facts = [
        str(value or "")
        for value in (
            issue.get("id"),
            issue.get("key"),
            fields.get("updated"),
            comment.get("id"),
            comment.get("updated"),
            payload.get("timestamp"),
        )
    ]
    if not any(facts):
        return "sha256:" + hashlib.sha256(body).hexdigest()
    return "sha256:" + hashlib.sha256("\x1f".join([event, *facts]).encode()).hexdigest()


def store_receipt(
    *,
    identifier: str,
    event: str,
    issue: dict,
    payload: dict,
    flow: str = "",
    retry_count: int = 0,
    content_key: str = "",
    for_tickets: bool = True,
) -> tuple[int, bool]:
    """Store a delivery once and queue its processing in the same transaction.

    One ``INSERT … ON CONFLICT DO NOTHING`` decides atomically whether it is new: concurrent
    redeliveries of one identifier, or of one signed content under several identifiers,
    store one row. Returns ``(receipt id, created)``; raises ``IntegrityError`` (the webhook
    answers 503, Jira retries) when the insert clashed with a row that is not a copy of it.
    """
    table = connection.ops.quote_name(WebhookReceipt._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (identifier, content_key, event, issue_id, issue_key, payload, flow, "  # noqa: S608 - table name from the model
            "for_tickets, retry_count, state, result, attempts, received_at) "
            "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, '', 0, %s) "
            # No conflict target: a clash on the identifier or on the content is a duplicate.
            "ON CONFLICT DO NOTHING RETURNING id",
            [
                identifier,
                content_key,
                event[:60],
                str(issue.get("id") or "")[:32],
                str(issue.get("key") or "")[:64],
                json.dumps(payload),
                flow[:20],
                for_tickets,
                retry_count,
                ReceiptState.PENDING,
                timezone.now(),
            ],
        )
        row = cursor.fetchone()
        if row is None:
            same = Q(identifier=identifier) | (Q(content_key=content_key) if content_key else Q(pk__in=[]))
            existing = WebhookReceipt.objects.filter(same).values_list("pk", flat=True).first()
            if existing is None:
                # The row clashed with something that is not this delivery (the id sequence
                # behind rows inserted with explicit ids, after a restore; or the duplicate
                # deleted in between): nothing is stored, so Jira must retry, not hear "duplicate".
                raise IntegrityError("The delivery clashed with a row that is not a copy of it.")
            return existing, False
        # A fresh id cannot collide with a queueing lock: no savepoint needed around the defer.
        app.configure_task(
            PROCESS_RECEIPT_TASK, allow_unknown=False, queueing_lock=f"jira-receipt-{row[0]}"
        ).defer(receipt_id=row[0])
    return row[0], True
