from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from itsm.permissions import IsAgent, ReadOnlyForViewers
from problems import actions
from problems.models import IllegalProblemTransition, Problem, ProblemStatus
from problems.serializers import (
    DetectResultSerializer,
    DetectSerializer,
    LinkSerializer,
    ProblemCreateSerializer,
    ProblemRefusedSerializer,
    ProblemSerializer,
    ProblemUpdateSerializer,
)
from tickets.models import Ticket


def ticket_by_reference(user, reference: str) -> Ticket:
    reference = (reference or "").strip()
    lookup = Q(number__iexact=reference)
    if reference.isdigit():
        lookup |= Q(pk=int(reference))
    ticket = Ticket.objects.visible_to(user).filter(lookup).first()
    if ticket is None:
        raise ValidationError({"ticket": f"No ticket {reference!r}."})
    return ticket


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, enum=ProblemStatus.values, description="Only problems in this status."
            )
        ]
    )
)
class ProblemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Problems: agents manage them; viewers read; requesters have no access."""

    serializer_class = ProblemSerializer
    permission_classes = [IsAuthenticated, ReadOnlyForViewers]

    def get_queryset(self):
        user = self.request.user
        queryset = Problem.objects.visible_to(user).select_related("category", "team", "owner")
        queryset = queryset.with_incidents_for(user).order_by("-created_at", "-pk")
        status_filter = self.request.query_params.get("status")
        if status_filter:
            queryset = queryset.filter(status=status_filter)
        return queryset

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        if request.user.is_requester:
            self.permission_denied(request, message="Problems are for the service desk.")

    @extend_schema(request=ProblemCreateSerializer, responses={201: ProblemSerializer})
    def create(self, request: Request) -> Response:
        self._require_agent(request)
        data = ProblemCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incidents = [ticket_by_reference(request.user, ref) for ref in data.validated_data["incidents"]]
        problem = actions.do_create_problem(
            actor=request.user,
            title=data.validated_data["title"],
            description=data.validated_data["description"],
            incidents=incidents,
        )
        return Response(
            ProblemSerializer(self.get_queryset().get(pk=problem.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=ProblemUpdateSerializer,
        responses={
            200: ProblemSerializer,
            409: OpenApiResponse(ProblemRefusedSerializer, description="Illegal move (lists `allowed`)."),
        },
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        self._require_agent(request)
        problem = self.get_object()
        data = ProblemUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            problem = actions.do_transition_problem(
                problem,
                values.get("status", problem.status),
                actor=request.user,
                root_cause=values.get("root_cause"),
                workaround=values.get("workaround"),
                fix=values.get("fix"),
            )
        except IllegalProblemTransition as error:
            return Response(
                {"detail": error.message, "allowed": error.allowed}, status=status.HTTP_409_CONFLICT
            )
        return Response(ProblemSerializer(self.get_queryset().get(pk=problem.pk)).data)

    @extend_schema(request=LinkSerializer, responses=ProblemSerializer)
    @action(detail=True, methods=["post"])
    def link(self, request: Request, pk: str | None = None) -> Response:
        self._require_agent(request)
        problem = self.get_object()
        data = LinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actions.do_link_incident(
            problem, ticket_by_reference(request.user, data.validated_data["ticket"]), actor=request.user
        )
        return Response(ProblemSerializer(self.get_queryset().get(pk=problem.pk)).data)

    @extend_schema(request=LinkSerializer, responses=ProblemSerializer)
    @action(detail=True, methods=["post"])
    def unlink(self, request: Request, pk: str | None = None) -> Response:
        self._require_agent(request)
        problem = self.get_object()
        data = LinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = ticket_by_reference(request.user, data.validated_data["ticket"])
        if not actions.do_unlink_incident(problem, ticket, actor=request.user):
            raise ValidationError({"ticket": f"{ticket.number} is not linked to {problem.number}."})
        return Response(ProblemSerializer(self.get_queryset().get(pk=problem.pk)).data)

    @extend_schema(request=DetectSerializer, responses=DetectResultSerializer)
    @action(detail=False, methods=["post"])
    def detect(self, request: Request) -> Response:
        self._require_agent(request)
        data = DetectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        found = actions.do_detect_recurrences(actor=request.user, dry_run=data.validated_data["dry_run"])
        return Response({"dry_run": data.validated_data["dry_run"], "clusters": found})

    def _require_agent(self, request: Request) -> None:
        if not IsAgent().has_permission(request, self):
            self.permission_denied(request, message=IsAgent.message)
