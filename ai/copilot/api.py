"""Copilot API under /api/ai/copilot/: ask, read runs, replay, decide proposals."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ai.copilot import actions, quickfix
from ai.copilot.models import (
    CopilotProposal,
    CopilotRun,
    DecisionOutcome,
    Recommendation,
    RecommendationStatus,
    RunSource,
    RunStatus,
)
from ai.copilot.recommendations import AlreadyClosed, do_close_recommendation
from ai.copilot.serializers import (
    AskSerializer,
    ProposalDecisionSerializer,
    QuickFixDecisionSerializer,
    RecommendationSerializer,
    ReplaySerializer,
    RunListSerializer,
    RunSerializer,
)
from itsm.api import ErrorSerializer, StateConflictSerializer
from itsm.pagination import PageNumberPagination
from itsm.security.scopes import read_scope
from tickets.models import IllegalTransition, StaleTicket, Ticket
from tickets.models.ticket import ResolutionRequired


def runs_for(request: Request) -> QuerySet[CopilotRun]:
    return CopilotRun.objects.visible_to(request.user).select_related("user")


def run_detail(queryset: QuerySet[CopilotRun]) -> QuerySet[CopilotRun]:
    return queryset.prefetch_related(
        "steps", Prefetch("proposals", queryset=CopilotProposal.objects.select_related("decision"))
    )


def _created(run: CopilotRun) -> Response:
    run = run_detail(CopilotRun.objects.select_related("user")).get(pk=run.pk)
    return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


@read_scope  # asking records a run but changes nothing of the desk
@extend_schema(
    request=AskSerializer,
    responses={
        201: RunSerializer,
        400: OpenApiResponse(description="Field errors: question, ticket, planner."),
    },
    summary="Ask the copilot",
)
@api_view(["POST"])
def ask(request: Request) -> Response:
    serializer = AskSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    ticket = None
    if data.get("ticket"):
        # A ticket the caller may not see is refused in the words used for one that does not exist.
        ticket = Ticket.objects.visible_to(request.user).filter(pk=data["ticket"]).first()
        if ticket is None:
            raise ValidationError({"ticket": ["No such ticket."]})
    source = RunSource.PORTAL if request.user.is_requester else RunSource.API
    run = actions.do_ask_copilot(
        actor=request.user,
        question=data["question"],
        ticket=ticket,
        source=source,
        planner=data.get("planner"),
    )
    return _created(run)


class RunPagination(PageNumberPagination):
    page_size = 25


@extend_schema(
    parameters=[
        OpenApiParameter("status", str, enum=RunStatus.values),
        OpenApiParameter("tool", str),
        OpenApiParameter("user", str, description="An e-mail (admins)"),
    ],
    summary="Copilot runs: your own; admins all",
)
class RunList(generics.ListAPIView):
    serializer_class = RunListSerializer
    pagination_class = RunPagination

    def get_queryset(self) -> QuerySet[CopilotRun]:
        request = self.request
        runs = runs_for(request)
        state = request.query_params.get("status")
        if state:
            if state not in RunStatus.values:
                raise ValidationError({"status": [f"One of {', '.join(RunStatus.values)}."]})
            runs = runs.filter(status=state)
        if request.query_params.get("tool"):
            runs = runs.using_tool(request.query_params["tool"][:40])
        if request.query_params.get("user"):
            runs = runs.filter(user__email__iexact=request.query_params["user"][:254])
        return runs.order_by("-created_at", "-id")


run_list = RunList.as_view()


@extend_schema(responses={200: RunSerializer, 404: ErrorSerializer}, summary="One copilot run with its trace")
@api_view(["GET"])
def run_read(request: Request, pk: int) -> Response:
    run = get_object_or_404(run_detail(runs_for(request)), pk=pk)
    return Response(RunSerializer(run).data)


@read_scope
@extend_schema(
    request=ReplaySerializer,
    responses={201: RunSerializer, 404: ErrorSerializer},
    summary="Replay a run against today's data; the new run has replay_of and a diff",
)
@api_view(["POST"])
def run_replay(request: Request, pk: int) -> Response:
    run = get_object_or_404(runs_for(request), pk=pk)
    serializer = ReplaySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    replay = actions.do_replay_run(run, actor=request.user, planner=serializer.validated_data.get("planner"))
    return _created(replay)


def _decide(request: Request, pk: int, outcome: str) -> Response:
    proposal = get_object_or_404(
        CopilotProposal.objects.filter(run__user=request.user).select_related("run"), pk=pk
    )
    try:
        decision = actions.do_decide_proposal(proposal, actor=request.user, outcome=outcome)
    except actions.AlreadyDecided as error:
        return Response({"detail": str(error), "status": "decided"}, status=status.HTTP_409_CONFLICT)
    except ResolutionRequired as error:
        raise ValidationError({"resolution": [error.message]}) from error
    except (IllegalTransition, StaleTicket) as error:
        payload = {"detail": str(error), "status": getattr(error, "current", "stale")}
        if isinstance(error, IllegalTransition):
            payload["allowed"] = error.allowed
        return Response(payload, status=status.HTTP_409_CONFLICT)
    except ObjectDoesNotExist as error:
        raise NotFound(str(error)) from error
    return Response(ProposalDecisionSerializer({"proposal": proposal.pk, "outcome": decision.outcome}).data)


@extend_schema(
    request=None,
    responses={
        200: ProposalDecisionSerializer,
        403: ErrorSerializer,
        404: ErrorSerializer,
        409: StateConflictSerializer,
    },
    summary="Accept a proposal: runs the normal action as you",
)
@api_view(["POST"])
def proposal_accept(request: Request, pk: int) -> Response:
    return _decide(request, pk, DecisionOutcome.ACCEPTED)


@extend_schema(
    request=None,
    responses={200: ProposalDecisionSerializer, 404: ErrorSerializer, 409: StateConflictSerializer},
    summary="Dismiss a proposal",
)
@api_view(["POST"])
def proposal_dismiss(request: Request, pk: int) -> Response:
    return _decide(request, pk, DecisionOutcome.DISMISSED)


# --- recommendations ------------------------------------------------------------------------------
def _desk_only(request: Request) -> None:
    if request.user.is_requester:
        raise PermissionDenied("Recommendations are for the desk.")


@extend_schema(
    parameters=[OpenApiParameter("status", str, enum=RecommendationStatus.values)],
    summary="Recommendations from the KPIs and queues (open ones by default)",
)
class RecommendationList(generics.ListAPIView):
    serializer_class = RecommendationSerializer
    pagination_class = RunPagination

    def get_queryset(self) -> QuerySet[Recommendation]:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI schema asks without a user
            return Recommendation.objects.none()
        _desk_only(self.request)
        state = self.request.query_params.get("status") or RecommendationStatus.OPEN
        if state not in RecommendationStatus.values:
            raise ValidationError({"status": [f"One of {', '.join(RecommendationStatus.values)}."]})
        return Recommendation.objects.filter(status=state).order_by("-created_at", "-id")


recommendation_list = RecommendationList.as_view()


def _close(request: Request, pk: int, status_to: str) -> Response:
    recommendation = get_object_or_404(Recommendation.objects.all(), pk=pk)
    try:
        recommendation = do_close_recommendation(recommendation, actor=request.user, status=status_to)
    except AlreadyClosed as error:
        return Response(
            {"detail": str(error), "status": recommendation.status}, status=status.HTTP_409_CONFLICT
        )
    return Response(RecommendationSerializer(recommendation).data)


@extend_schema(
    request=None,
    responses={
        200: RecommendationSerializer,
        403: ErrorSerializer,
        404: ErrorSerializer,
        409: StateConflictSerializer,
    },
    summary="Dismiss a recommendation",
)
@api_view(["POST"])
def recommendation_dismiss(request: Request, pk: int) -> Response:
    return _close(request, pk, RecommendationStatus.DISMISSED)


@extend_schema(
    request=None,
    responses={
        200: RecommendationSerializer,
        403: ErrorSerializer,
        404: ErrorSerializer,
        409: StateConflictSerializer,
    },
    summary="Mark a recommendation done",
)
@api_view(["POST"])
def recommendation_done(request: Request, pk: int) -> Response:
    return _close(request, pk, RecommendationStatus.DONE)


# --- quick fix ------------------------------------------------------------------------------------
def _agent_ticket(request: Request, pk: int) -> Ticket:
    if not request.user.is_agent:
        raise PermissionDenied("Quick fixes are for agents.")
    return get_object_or_404(Ticket.objects.visible_to(request.user), pk=pk)


@extend_schema(
    responses={200: OpenApiTypes.OBJECT, 403: ErrorSerializer, 404: ErrorSerializer},
    summary="A ticket's quick fix",
)
@api_view(["GET"])
def quick_fix(request: Request, pk: int) -> Response:
    ticket = _agent_ticket(request, pk)
    return Response(quickfix.suggest(ticket, user=request.user).as_dict())


@extend_schema(
    request=QuickFixDecisionSerializer,
    responses={
        201: OpenApiTypes.OBJECT,
        400: OpenApiResponse(description="Field errors."),
        403: ErrorSerializer,
    },
    summary="Record what was done with a quick fix (inserted, linked, dismissed)",
)
@api_view(["POST"])
def quick_fix_decide(request: Request, pk: int) -> Response:
    ticket = _agent_ticket(request, pk)
    serializer = QuickFixDecisionSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        decision = quickfix.do_decide_quick_fix(
            ticket, actor=request.user, outcome=serializer.validated_data["outcome"]
        )
    except quickfix.QuickFixInputError as error:
        raise ValidationError({"outcome": [str(error)]}) from error
    return Response(
        {"id": decision.pk, "outcome": decision.outcome, "confidence": decision.confidence},
        status=status.HTTP_201_CREATED,
    )
