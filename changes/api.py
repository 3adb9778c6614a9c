from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from changes import actions
from changes import conflicts as conflict_rules
from changes.models import ChangeError, ChangeRequest, ChangeStatus, ChangeType
from changes.serializers import (
    AcceptConflictsSerializer,
    CalendarEntrySerializer,
    ChangeCreateSerializer,
    ChangeDecisionSerializer,
    ChangeSerializer,
    ChangeTransitionSerializer,
    ChangeWriteSerializer,
    ConflictSerializer,
    RefusedSerializer,
    RejectSerializer,
)
from itsm.approvals.models import ApprovalError, DecisionChannel
from itsm.permissions import IsAgent, ReadOnlyForViewers
from tickets.models import Ticket

REFUSED = {409: OpenApiResponse(RefusedSerializer, description="Refused by the lifecycle (lists `allowed`).")}
MAX_CALENDAR_DAYS = 62


def refused(error: ChangeError | ApprovalError) -> Response:
    body: dict[str, object] = {"detail": error.message}
    if getattr(error, "allowed", None):
        body["allowed"] = error.allowed
    return Response(body, status=error.status_code)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, enum=ChangeStatus.values, description="Only changes in this status."
            ),
            OpenApiParameter("type", str, enum=ChangeType.values),
        ]
    )
)
class ChangeViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Change requests: agents manage them; viewers read; requesters have no access."""

    serializer_class = ChangeSerializer
    permission_classes = [IsAuthenticated, ReadOnlyForViewers]

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        if request.user.is_requester:
            self.permission_denied(request, message="Changes are for the service desk.")

    def get_queryset(self):  # type: ignore[no-untyped-def]
        user = self.request.user
        visible = Ticket.objects.visible_to(user).order_by("number")
        queryset = (
            ChangeRequest.objects.visible_to(user)
            .select_related("team", "assignee", "requested_by")
            .prefetch_related(
                conflict_rules.with_items(),
                "problems",
                Prefetch("incidents", queryset=visible, to_attr="visible_incidents"),
            )
            .order_by("-created_at", "-id")
        )
        if self.action == "list":
            for name, values in (("status", ChangeStatus.values), ("type", ChangeType.values)):
                value = self.request.query_params.get(name)
                if value:
                    if value not in values:
                        raise ValidationError({name: f"Use one of: {', '.join(values)}."})
                    queryset = queryset.filter(**{name: value})
        return queryset

    def _require_agent(self, request: Request) -> None:
        if not IsAgent().has_permission(request, self):
            self.permission_denied(request, message=IsAgent.message)

    def _answer(self, change: ChangeRequest, code: int = status.HTTP_200_OK) -> Response:
        return Response(ChangeSerializer(self.get_queryset().get(pk=change.pk)).data, status=code)

    @extend_schema(request=ChangeCreateSerializer, responses={201: ChangeSerializer})
    def create(self, request: Request) -> Response:
        self._require_agent(request)
        data = ChangeCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        try:
            change = actions.do_create_change(actor=request.user, **data.validated_data)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        return self._answer(change, status.HTTP_201_CREATED)

    @extend_schema(request=ChangeWriteSerializer, responses={200: ChangeSerializer, **REFUSED})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        self._require_agent(request)
        change = self.get_object()
        data = ChangeWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        try:
            change = actions.do_update_change(change, actor=request.user, **data.validated_data)
        except ChangeError as error:
            return refused(error)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        return self._answer(change)

    @extend_schema(responses={204: None, **REFUSED})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        """Only a draft is deleted; later a change is cancelled (its history stays)."""
        self._require_agent(request)
        change = self.get_object()
        deleted, _rows = ChangeRequest.objects.filter(pk=change.pk, status=ChangeStatus.DRAFT).delete()
        if not deleted:
            return refused(
                ChangeError("Only a draft is deleted; cancel the change instead.", allowed=["cancelled"])
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ChangeTransitionSerializer, responses={200: ChangeSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        self._require_agent(request)
        change = self.get_object()
        data = ChangeTransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            change = actions.do_transition_change(change, actor=request.user, **data.validated_data)
        except (ChangeError, ApprovalError) as error:
            return refused(error)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        return self._answer(change)

    def _decide(self, request: Request, *, approve: bool) -> Response:
        change = self.get_object()
        data = (ChangeDecisionSerializer if approve else RejectSerializer)(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            change = actions.do_decide_change(
                change,
                actor=request.user,
                approve=approve,
                comment=data.validated_data["comment"],
                channel=DecisionChannel.API,
            )
        except (ChangeError, ApprovalError) as error:
            return refused(error)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        return self._answer(change)

    @extend_schema(request=ChangeDecisionSerializer, responses={200: ChangeSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """An approver of the pending authorisation approves, with an optional comment."""
        return self._decide(request, approve=True)

    @extend_schema(request=RejectSerializer, responses={200: ChangeSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """An approver rejects with a comment; the change returns to assess."""
        return self._decide(request, approve=False)

    @extend_schema(responses=ConflictSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def conflicts(self, request: Request, pk: str | None = None) -> Response:
        change = self.get_object()
        accepted = set(change.overridden_conflicts or [])
        found = conflict_rules.conflicts_of(change)
        return Response([{**c.as_dict(), "accepted": c.key in accepted} for c in found])

    @extend_schema(request=AcceptConflictsSerializer, responses=ChangeSerializer)
    @action(detail=True, methods=["post"], url_path="accept-conflicts")
    def accept_conflicts(self, request: Request, pk: str | None = None) -> Response:
        self._require_agent(request)
        change = self.get_object()
        data = AcceptConflictsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            change = actions.do_accept_conflicts(
                change, actor=request.user, reason=data.validated_data["reason"]
            )
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        return self._answer(change)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", datetime, required=True, description="ISO 8601 with a time zone."),
            OpenApiParameter(
                "to", datetime, required=True, description=f"At most {MAX_CALENDAR_DAYS} days later."
            ),
        ],
        responses=CalendarEntrySerializer(many=True),
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def calendar(self, request: Request) -> Response:
        """Planned changes (assess to implement) overlapping the range, with their conflicts."""
        bounds = {}
        for name in ("from", "to"):
            raw = request.query_params.get(name, "")
            try:
                value = parse_datetime(raw.replace(" ", "+")) if raw else None
            except ValueError:
                value = None
            if value is None or value.tzinfo is None:
                raise ValidationError({name: "Give an ISO 8601 date and time with a time zone."})
            bounds[name] = value
        if bounds["to"] <= bounds["from"]:
            raise ValidationError({"to": "Must be after from."})
        if (bounds["to"] - bounds["from"]).days > MAX_CALENDAR_DAYS:
            raise ValidationError({"to": f"At most {MAX_CALENDAR_DAYS} days after from."})
        changes = list(
            ChangeRequest.objects.visible_to(request.user)
            .planned()
            .overlapping(bounds["from"], bounds["to"])
            .prefetch_related(conflict_rules.with_items())
            .order_by("planned_start", "id")[:500]
        )
        found = conflict_rules.conflicts_among(changes)
        return Response(
            [
                {
                    "id": change.pk,
                    "number": change.number,
                    "title": change.title,
                    "type": change.type,
                    "status": change.status,
                    "risk": change.risk,
                    "planned_start": change.planned_start,
                    "planned_end": change.planned_end,
                    "affected_items": [item.name for item in change.affected_items.all()],
                    "services": change.services,
                    "conflicts": [
                        c.message for c in conflict_rules.unaccepted(change, found.get(change.pk, []))
                    ],
                }
                for change in changes
            ]
        )
