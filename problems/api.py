from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, Q
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from itsm.permissions import IsAgent, ReadOnlyForViewers
from problems import actions
from problems.models import IllegalProblemTransition, Problem, ProblemStatus, RecurrenceCandidate
from problems.serializers import (
    CandidateSerializer,
    DetectResultSerializer,
    DetectSerializer,
    DismissSerializer,
    LinkSerializer,
    NoteSerializer,
    ProblemCreateSerializer,
    ProblemMergeSerializer,
    ProblemRefusedSerializer,
    ProblemSerializer,
    ProblemUpdateSerializer,
    SuggestionsSerializer,
)
from problems.suggestions import suggestions_for
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
        queryset = (
            Problem.objects.visible_to(user)
            .select_related("category", "team", "owner", "duplicate_of")
            .prefetch_related("affected_items")
        )
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
        try:
            problem = actions.do_update_problem(problem, actor=request.user, **data.validated_data)
        except IllegalProblemTransition as error:
            return Response(
                {"detail": error.message, "allowed": error.allowed}, status=status.HTTP_409_CONFLICT
            )
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        return Response(ProblemSerializer(self.get_queryset().get(pk=problem.pk)).data)

    @extend_schema(request=NoteSerializer, responses={200: NoteSerializer(many=True), 201: NoteSerializer})
    @action(detail=True, methods=["get", "post"])
    def notes(self, request: Request, pk: str | None = None) -> Response:
        """Internal notes: agents add them; agents and viewers read them."""
        problem = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(problem.notes.select_related("author").order_by("created_at", "id"))
            return self.get_paginated_response(NoteSerializer(page, many=True).data)
        self._require_agent(request)
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = actions.do_add_problem_note(problem, actor=request.user, body=data.validated_data["body"])
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=SuggestionsSerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def suggestions(self, request: Request, pk: str | None = None) -> Response:
        """Common factors of the linked incidents and similar past problems (suggestions only)."""
        problem = self.get_object()
        return Response(suggestions_for(problem, request.user).as_dict())

    @extend_schema(request=ProblemMergeSerializer, responses=ProblemSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str | None = None) -> Response:
        """Merge this problem into ``into``: its incidents and notes move, it closes as a duplicate."""
        self._require_agent(request)
        problem = self.get_object()
        data = ProblemMergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        into = Problem.objects.filter(number__iexact=data.validated_data["into"].strip()).first()
        if into is None:
            raise ValidationError({"into": f"No problem {data.validated_data['into']!r}."})
        try:
            into = actions.do_merge_problems(
                problem, into=into, actor=request.user, reason=data.validated_data["reason"]
            )
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        return Response(ProblemSerializer(self.get_queryset().get(pk=into.pk)).data)

    @extend_schema(request=LinkSerializer, responses=ProblemSerializer)
    @action(detail=True, methods=["post"])
    def link(self, request: Request, pk: str | None = None) -> Response:
        self._require_agent(request)
        problem = self.get_object()
        data = LinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            actions.do_link_incident(
                problem, ticket_by_reference(request.user, data.validated_data["ticket"]), actor=request.user
            )
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
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
        dry_run = data.validated_data["dry_run"]
        joined = actions.do_join_similar_incidents(actor=request.user, dry_run=dry_run)
        found = actions.do_detect_recurrences(actor=request.user, dry_run=dry_run)
        return Response({"dry_run": dry_run, "joined": joined, "clusters": found})

    def _require_agent(self, request: Request) -> None:
        if not IsAgent().has_permission(request, self):
            self.permission_denied(request, message=IsAgent.message)


class CandidateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Clusters of similar incidents waiting for review (``PROBLEM_AUTO_CREATE=false``), and
    those promoted or dismissed. Agents decide; viewers read; requesters have no access."""

    serializer_class = CandidateSerializer
    permission_classes = [IsAuthenticated, ReadOnlyForViewers]

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        if request.user.is_requester:
            self.permission_denied(request, message="Problems are for the service desk.")

    def get_queryset(self):  # type: ignore[no-untyped-def]
        visible = Ticket.objects.visible_to(self.request.user).order_by("created_at", "id")
        queryset = (
            RecurrenceCandidate.objects.select_related("problem", "decided_by")
            .prefetch_related(Prefetch("tickets", queryset=visible, to_attr="visible_tickets"))
            .order_by("-updated_at", "-id")
        )
        state = self.request.query_params.get("state", RecurrenceCandidate.State.OPEN)
        if self.action == "list" and state != "all":
            if state not in RecurrenceCandidate.State.values:
                raise ValidationError(
                    {"state": f"Use one of: all, {', '.join(RecurrenceCandidate.State.values)}."}
                )
            queryset = queryset.filter(state=state)
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "state", str, enum=["all", *RecurrenceCandidate.State.values], description="Default: open."
            )
        ]
    )
    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={201: ProblemSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: str | None = None) -> Response:
        self._require_agent(request)
        candidate = self.get_object()
        try:
            problem = actions.do_promote_candidate(candidate, actor=request.user)
        except actions.CandidateDecided as error:
            return Response({"detail": error.message}, status=status.HTTP_409_CONFLICT)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        problems = Problem.objects.visible_to(request.user).with_incidents_for(request.user)
        return Response(ProblemSerializer(problems.get(pk=problem.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DismissSerializer, responses=CandidateSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str | None = None) -> Response:
        self._require_agent(request)
        candidate = self.get_object()
        data = DismissSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            actions.do_dismiss_candidate(candidate, actor=request.user, reason=data.validated_data["reason"])
        except actions.CandidateDecided as error:
            return Response({"detail": error.message}, status=status.HTTP_409_CONFLICT)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        return Response(CandidateSerializer(self._reload(candidate)).data)

    def _reload(self, candidate: RecurrenceCandidate) -> RecurrenceCandidate:
        return RecurrenceCandidate.objects.prefetch_related(
            Prefetch(
                "tickets",
                queryset=Ticket.objects.visible_to(self.request.user).order_by("created_at", "id"),
                to_attr="visible_tickets",
            )
        ).get(pk=candidate.pk)

    def _require_agent(self, request: Request) -> None:
        if not IsAgent().has_permission(request, self):
            self.permission_denied(request, message=IsAgent.message)
