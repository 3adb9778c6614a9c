"""Triage API under /api/ai/: classify text, read and decide a ticket's suggestions, metrics."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from ai.triage import actions, metrics, predict
from ai.triage.models import FieldMode, FieldSetting, TriageResult
from ai.triage.serializers import (
    ClassifyInputSerializer,
    ClassifyOutputSerializer,
    TriageResultSerializer,
)
from itsm.api import ErrorSerializer, StateConflictSerializer
from itsm.permissions import IsAdmin, IsAgent
from itsm.security.scopes import read_scope
from tickets.models import Ticket


def classify_payload(title: str, description: str, ticket_type: str) -> dict:
    """The classify response: the same code path as the worker's triage, nothing stored."""
    triage = predict.classify(title, description, ticket_type)
    modes = FieldSetting.all_fields()
    predictions = {}
    for name, prediction in triage.predictions.items():
        setting = modes[name]
        predictions[name] = {
            **prediction.as_dict(),
            "mode": setting.mode,
            "threshold": setting.threshold,
            "would_apply": setting.mode == FieldMode.AUTO and prediction.confidence >= setting.threshold,
        }
    return {
        "model_version": triage.model_version,
        "latency_ms": round(triage.latency_ms, 2),
        "predictions": predictions,
    }


@read_scope  # nothing is stored: read-only tokens may call it
@extend_schema(
    request=ClassifyInputSerializer,
    responses=ClassifyOutputSerializer,
    summary="Predict category, impact, urgency, team and assignee of a ticket text (nothing is stored)",
)
@api_view(["POST"])
@permission_classes([IsAgent])
def classify(request: Request) -> Response:
    serializer = ClassifyInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return Response(classify_payload(data["title"], data.get("description", ""), data["type"]))


@extend_schema(
    responses=OpenApiTypes.OBJECT,
    summary="Triage accuracy, precision at threshold, coverage and auto no-correction rate per field",
)
@api_view(["GET"])
@permission_classes([IsAdmin])
def triage_metrics(request: Request) -> Response:
    return Response(metrics.triage_metrics())


@extend_schema(responses=TriageResultSerializer(many=True), summary="A ticket's triage predictions")
@api_view(["GET"])
@permission_classes([IsAgent])
def ticket_triage(request: Request, pk: int) -> Response:
    ticket = get_object_or_404(Ticket.objects.visible_to(request.user), pk=pk)
    results = ticket.triage_results.select_related("ticket", "decided_by").order_by("field")
    return Response(TriageResultSerializer(results, many=True).data)


DECIDED = OpenApiResponse(StateConflictSerializer, description="Already decided: `status` says how.")


def _decide(request: Request, pk: int, decide) -> Response:
    visible = Ticket.objects.visible_to(request.user)
    result = get_object_or_404(
        TriageResult.objects.select_related("ticket").filter(ticket__in=visible), pk=pk
    )
    try:
        result = decide(result, actor=request.user)
    except actions.SuggestionNotPending as error:
        return Response(
            {"detail": str(error), "status": error.result.status}, status=status.HTTP_409_CONFLICT
        )
    except DjangoPermissionDenied as error:
        raise PermissionDenied(str(error)) from error
    except DjangoValidationError as error:
        return Response({"detail": " ".join(error.messages)}, status=status.HTTP_400_BAD_REQUEST)
    result.refresh_from_db()
    return Response(TriageResultSerializer(result).data)


@extend_schema(
    request=None,
    responses={200: TriageResultSerializer, 400: ErrorSerializer, 409: DECIDED},
    summary="Accept a triage suggestion (applies it)",
)
@api_view(["POST"])
@permission_classes([IsAgent])
def accept_suggestion(request: Request, pk: int) -> Response:
    return _decide(request, pk, actions.do_accept_suggestion)


@extend_schema(
    request=None,
    responses={200: TriageResultSerializer, 400: ErrorSerializer, 409: DECIDED},
    summary="Reject a triage suggestion",
)
@api_view(["POST"])
@permission_classes([IsAgent])
def reject_suggestion(request: Request, pk: int) -> Response:
    return _decide(request, pk, actions.do_reject_suggestion)
