"""Runbooks API. Admins manage connections, runbooks and settings; agents run and decide
executions; viewers read; requesters are refused (403).

GET/POST          /api/runbooks/connections/          (secret write-only, never returned)
GET/PATCH/DELETE  /api/runbooks/connections/{id}/
GET/POST          /api/runbooks/                      (POST creates the runbook and its first draft)
GET/PATCH         /api/runbooks/{id}/                 (PATCH edits the draft; published versions never change)
POST              /api/runbooks/{id}/publish/
GET               /api/tickets/{id}/runbooks/         matches with confidence and reasons
POST              /api/tickets/{id}/runbooks/{runbook_id}/execute/  {"parameters": {…}, "item": id} → 202
GET               /api/runbooks/executions/?ticket=&runbook=&item=&status=
GET               /api/runbooks/executions/{id}/      steps with status, output, rollback status
POST              /api/runbooks/executions/{id}/approve/ · reject/ · cancel/ · confirm/
GET|PUT           /api/runbooks/settings/             {"mode": "hil"|"auto", "threshold": 0.8}
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import ProtectedError, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from cmdb.models import ConfigurationItem
from itsm.approvals.models import ApprovalError, ApprovalRequest
from itsm.models import Team
from runbooks import actions, matching
from runbooks.models import (
    ExecutionStatus,
    InfrastructureConnection,
    Runbook,
    RunbookExecution,
    RunbookSettings,
    default_approver_leads,
    default_approver_roles,
)
from runbooks.serializers import (
    ConfirmInputSerializer,
    ConnectionSerializer,
    ConnectionWriteSerializer,
    ExecuteInputSerializer,
    ExecutionDecisionSerializer,
    ExecutionSerializer,
    MatchSerializer,
    RunbookCreateSerializer,
    RunbookSerializer,
    RunbookUpdateSerializer,
    SettingsSerializer,
)
from tickets.models import Ticket

REFUSED = {
    400: OpenApiResponse(description="Bad input; nothing changed."),
    403: OpenApiResponse(description="Not allowed for this role, or one's own approval."),
    409: OpenApiResponse(description="Not in a state that allows it; nothing changed."),
}


def require_staff(request: Request) -> None:
    if request.user.is_requester:
        raise PermissionDenied("Runbooks are for the service desk.")


def require_admin(request: Request) -> None:
    if not request.user.is_admin:
        raise PermissionDenied("This needs an admin account.")


def require_agent(request: Request) -> None:
    if not request.user.is_agent:
        raise PermissionDenied("This needs an agent or admin account.")


def conflict(error: actions.ExecutionConflict | ApprovalError) -> Response:
    return Response({"detail": error.message}, status=error.status_code)


# --- connections -----------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="Connections (credentials never shown)"),
    retrieve=extend_schema(summary="One connection"),
    create=extend_schema(request=ConnectionWriteSerializer, responses={201: ConnectionSerializer, **REFUSED}),
    partial_update=extend_schema(
        request=ConnectionWriteSerializer, responses={200: ConnectionSerializer, **REFUSED}
    ),
    destroy=extend_schema(responses={204: None, 409: OpenApiResponse(description="Used by executions.")}),
)
class ConnectionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ConnectionSerializer
    queryset = InfrastructureConnection.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[InfrastructureConnection]:
        require_staff(self.request)
        return InfrastructureConnection.objects.prefetch_related("items").order_by("name", "id")

    def _save(
        self, request: Request, connection: InfrastructureConnection | None
    ) -> InfrastructureConnection:
        require_admin(request)
        data = ConnectionWriteSerializer(data=request.data, partial=connection is not None)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        secret = values.pop("secret", None)
        item_ids = values.pop("items", None)
        items = None
        if item_ids is not None:
            items = list(ConfigurationItem.objects.filter(pk__in=item_ids))
            if len(items) != len(set(item_ids)):
                raise ValidationError({"items": "Some items do not exist."})
        if connection is None:
            for name in ("name", "kind"):
                if name not in values:
                    raise ValidationError({name: "This field is required."})
        return actions.do_save_connection(
            connection, actor=request.user, values=values, secret=secret, items=items
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        connection = self._save(request, None)
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        connection = self._save(request, self.get_object())
        return Response(ConnectionSerializer(connection).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        require_admin(request)
        connection = self.get_object()
        try:
            connection.delete()
        except ProtectedError:
            return Response(
                {"detail": "Executions used this connection: disable it instead."},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- runbooks --------------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="Runbooks with their published version and draft"),
    create=extend_schema(request=RunbookCreateSerializer, responses={201: RunbookSerializer, **REFUSED}),
    partial_update=extend_schema(
        summary="Edit the draft (a published version never changes)",
        request=RunbookUpdateSerializer,
        responses={200: RunbookSerializer, **REFUSED},
    ),
)
class RunbookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = RunbookSerializer
    queryset = Runbook.objects.none()
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Runbook]:
        require_staff(self.request)
        return (
            Runbook.objects.select_related("owner_team")
            .prefetch_related("versions", "approver_users")
            .order_by("name", "id")
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        require_admin(request)
        data = RunbookCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        unknown = set(request.data) - set(RunbookCreateSerializer().fields)
        if unknown:
            raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
        values = dict(data.validated_data)
        approvers = self._approvers(values.pop("approvers", None), None)
        team = None
        if values.get("owner_team"):
            team = Team.objects.filter(name=values["owner_team"]).first()
            if team is None:
                raise ValidationError({"owner_team": "No team of this name."})
        runbook = actions.do_create_runbook(
            actor=request.user,
            name=values.pop("name"),
            description=values.pop("description", ""),
            owner_team=team,
            version={name: value for name, value in values.items() if name != "owner_team"},
            approvers=approvers,
        )
        return Response(
            RunbookSerializer(self.get_queryset().get(pk=runbook.pk)).data, status=status.HTTP_201_CREATED
        )

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        require_admin(request)
        runbook = self.get_object()
        data = RunbookUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        unknown = set(request.data) - set(RunbookUpdateSerializer().fields)
        if unknown:
            raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
        values = dict(data.validated_data)
        approvers = self._approvers(values.pop("approvers", None), runbook)
        with transaction.atomic():  # a refused draft leaves the approvers as they were, and back
            if approvers is not None:
                actions.do_set_approvers(runbook, actor=request.user, approvers=approvers)
            if values:
                actions.do_edit_draft(runbook, actor=request.user, values=values)
        return Response(RunbookSerializer(self.get_queryset().get(pk=runbook.pk)).data)

    @staticmethod
    def _approvers(given: dict[str, Any] | None, runbook: Runbook | None) -> actions.Approvers | None:
        """The checked approvers of a request; a part left out keeps the runbook's (or the default)."""
        if given is None:
            return None
        current = (
            actions.approvers_of(runbook)
            if runbook is not None
            else {"roles": default_approver_roles(), "team_leads": default_approver_leads(), "users": []}
        )
        merged = current | dict(given)
        return actions.check_approvers(merged["roles"], merged["team_leads"], merged["users"])

    @extend_schema(request=None, responses={200: RunbookSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: Any = None) -> Response:
        require_admin(request)
        runbook = self.get_object()
        try:
            actions.do_publish_runbook(runbook, actor=request.user)
        except actions.ExecutionConflict as error:
            return conflict(error)
        return Response(RunbookSerializer(self.get_queryset().get(pk=runbook.pk)).data)


# --- executions ------------------------------------------------------------------------------------
def attach_approvals(executions: list[RunbookExecution]) -> list[RunbookExecution]:
    """Each execution's latest approval request, in one query."""
    if not executions:
        return executions
    content_type = ContentType.objects.get_for_model(RunbookExecution)
    latest: dict[int, ApprovalRequest] = {}
    for approval in ApprovalRequest.objects.filter(
        target_type=content_type,
        target_id__in=[execution.pk for execution in executions],
        kind=actions.APPROVAL_KIND,
    ).order_by("target_id", "created_at", "id"):
        latest[approval.target_id] = approval
    for execution in executions:
        execution.approval = latest.get(execution.pk)  # type: ignore[attr-defined]
    return executions


def execution_queryset(user: Any) -> QuerySet[RunbookExecution]:
    return (
        RunbookExecution.objects.visible_to(user)
        .select_related("runbook", "version", "ticket", "item", "requested_by")
        .prefetch_related("step_runs__connection")
    )


@extend_schema_view(
    list=extend_schema(
        summary="Executions (per ticket, runbook or item), newest first",
        parameters=[
            OpenApiParameter("ticket", OpenApiTypes.INT),
            OpenApiParameter("runbook", OpenApiTypes.INT),
            OpenApiParameter("item", OpenApiTypes.INT),
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(ExecutionStatus.values)),
        ],
    ),
    retrieve=extend_schema(summary="One execution with its steps, outputs and rollbacks"),
)
class ExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ExecutionSerializer
    queryset = RunbookExecution.objects.none()

    def get_queryset(self) -> QuerySet[RunbookExecution]:
        require_staff(self.request)
        queryset = execution_queryset(self.request.user)
        if self.action != "list":
            return queryset
        params = self.request.query_params
        for name in ("ticket", "runbook", "item"):
            if params.get(name):
                if not params[name].isdigit():
                    raise ValidationError({name: "An integer id."})
                queryset = queryset.filter(**{f"{name}_id": int(params[name])})
        if params.get("status"):
            if params["status"] not in ExecutionStatus.values:
                raise ValidationError({"status": f"Use one of: {', '.join(ExecutionStatus.values)}."})
            queryset = queryset.filter(status=params["status"])
        return queryset.order_by("-created_at", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(attach_approvals(list(page)), many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self.get_serializer(attach_approvals([self.get_object()])[0]).data)

    def _fresh(self, execution: RunbookExecution) -> Response:
        fresh = execution_queryset(self.request.user).get(pk=execution.pk)
        return Response(self.get_serializer(attach_approvals([fresh])[0]).data)

    def _decide(self, request: Request, approve: bool) -> Response:
        require_agent(request)
        execution = self.get_object()
        data = ExecutionDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            actions.do_decide_execution(
                execution, actor=request.user, approve=approve, comment=data.validated_data["comment"]
            )
        except (actions.ExecutionConflict, ApprovalError) as error:
            return conflict(error)
        return self._fresh(execution)

    @extend_schema(request=ExecutionDecisionSerializer, responses={200: ExecutionSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: Any = None) -> Response:
        return self._decide(request, approve=True)

    @extend_schema(request=ExecutionDecisionSerializer, responses={200: ExecutionSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: Any = None) -> Response:
        return self._decide(request, approve=False)

    @extend_schema(request=None, responses={200: ExecutionSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: Any = None) -> Response:
        require_agent(request)
        execution = self.get_object()
        try:
            actions.do_cancel_execution(execution, actor=request.user)
        except actions.ExecutionConflict as error:
            return conflict(error)
        return self._fresh(execution)

    @extend_schema(request=ConfirmInputSerializer, responses={200: ExecutionSerializer, **REFUSED})
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: Any = None) -> Response:
        """The manual step the execution waits for was done (or could not be: ``done: false``)."""
        require_agent(request)
        execution = self.get_object()
        data = ConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            actions.do_confirm_manual_step(execution, actor=request.user, **data.validated_data)
        except actions.ExecutionConflict as error:
            return conflict(error)
        return self._fresh(execution)


# --- a ticket's runbooks ------------------------------------------------------------------------------
def _ticket(request: Request, ticket_pk: int) -> Ticket:
    require_staff(request)
    return get_object_or_404(Ticket.objects.visible_to(request.user), pk=ticket_pk)


def match_data(match: matching.Match) -> dict[str, Any]:
    return {
        "runbook": {"id": match.runbook.pk, "name": match.runbook.name, "version": match.version.number},
        "confidence": match.confidence,
        "reasons": match.reasons,
        "item": {"id": match.item.pk, "name": match.item.name, "environment": match.item.environment}
        if match.item
        else None,
        "allowed": not match.blocked,
        "blocked": match.blocked,
        "parameters": [
            {
                "name": p.name,
                "type": p.type,
                "label": p.label,
                "default": p.default,
                "source": p.source,
                "choices": list(p.choices),
            }
            for p in match.version.parameter_list
        ],
    }


@extend_schema(
    summary="Runbooks that fit the ticket, best first, with confidence and reasons",
    responses=MatchSerializer(many=True),
)
@api_view(["GET"])
def ticket_runbooks(request: Request, ticket_pk: int) -> Response:
    ticket = _ticket(request, ticket_pk)
    return Response([match_data(match) for match in matching.match_ticket(ticket)])


@extend_schema(
    summary="Run a runbook on the ticket: 202 with the execution (pending_approval or queued)",
    request=ExecuteInputSerializer,
    responses={202: ExecutionSerializer, **REFUSED},
)
@api_view(["POST"])
def ticket_runbook_execute(request: Request, ticket_pk: int, runbook_pk: int) -> Response:
    ticket = _ticket(request, ticket_pk)
    require_agent(request)
    runbook = get_object_or_404(Runbook, pk=runbook_pk)
    data = ExecuteInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    item = None
    if data.validated_data.get("item"):
        item = ConfigurationItem.objects.filter(pk=data.validated_data["item"]).first()
        if item is None:
            raise ValidationError({"item": "No such item."})
    try:
        execution = actions.do_request_execution(
            ticket, runbook, actor=request.user, parameters=data.validated_data.get("parameters"), item=item
        )
    except (ApprovalError, actions.ExecutionConflict) as error:
        return conflict(error)
    fresh = execution_queryset(request.user).get(pk=execution.pk)
    return Response(ExecutionSerializer(attach_approvals([fresh])[0]).data, status=status.HTTP_202_ACCEPTED)


# --- settings -----------------------------------------------------------------------------------------
@extend_schema(
    methods=["GET"], summary="The execution mode and threshold", responses={200: SettingsSerializer}
)
@extend_schema(
    methods=["PUT"],
    summary="Change the execution mode and threshold (admins)",
    request=SettingsSerializer,
    responses={200: SettingsSerializer, **REFUSED},
)
@api_view(["GET", "PUT"])
def runbook_settings(request: Request) -> Response:
    require_staff(request)
    row = RunbookSettings.load()
    if request.method == "PUT":
        require_admin(request)
        data = SettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = actions.do_update_settings(actor=request.user, **data.validated_data)
    return Response({"mode": row.mode, "threshold": row.threshold})
