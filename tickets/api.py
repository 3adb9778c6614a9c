"""The tickets API (``/api/tickets/``, ``/api/exports/``).

Reads start from ``Ticket.objects.visible_to(request.user)`` (404 for what the caller may not
see); every write calls the same ``tickets.actions`` function as the pages. Domain errors turn
into JSON 4xx here: an illegal move → 409 with the allowed moves, a stale version → 409, a
refused bulk action → 400 naming every refused id.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from itsm.api import StateConflictSerializer
from itsm.pagination import PageNumberPagination
from itsm.parsers import JSONParser
from itsm.permissions import IsAgent, ReadOnlyForViewers
from itsm.replicas import ReplicaReadsMixin
from itsm.storage import StorageUnavailable, StoreDown, open_stored
from tickets import actions, extensions
from tickets.filters import SORTS, CappedCountPaginator, TicketFilter, sort_tickets
from tickets.models import (
    AccessChannel,
    Comment,
    ExportJob,
    ExportStatus,
    IllegalTransition,
    Macro,
    ResolutionRequired,
    StaleTicket,
    Ticket,
    TicketAudit,
    TicketStatus,
    WorkLog,
)
from tickets.serializers import (
    ApplyMacroResultSerializer,
    ApplyMacroSerializer,
    AssignSerializer,
    AuditEntrySerializer,
    BulkResultSerializer,
    BulkSerializer,
    CommentCreateSerializer,
    CommentEditSerializer,
    CommentSerializer,
    ExportCreateSerializer,
    ExportSerializer,
    MacroPreviewSerializer,
    MergePlanSerializer,
    MergeResultSerializer,
    MergeSerializer,
    PrioritySerializer,
    RelationCreateSerializer,
    RelationSerializer,
    StatsSerializer,
    TicketCreateSerializer,
    TicketSerializer,
    TicketUpdateSerializer,
    TransitionRefusedSerializer,
    TransitionSerializer,
    WorkLogCreateSerializer,
    WorkLogListSerializer,
    WorkLogSerializer,
    ticket_by_reference,
)

LIST_PARAMETERS = {"page", "page_size", "sort", "format"}
REFUSED = {
    400: OpenApiResponse(description="Bad input: field errors, nothing changed."),
    403: OpenApiResponse(description="Your role may not do this."),
    404: OpenApiResponse(description="No such ticket, or not visible to you."),
}
# A refused bulk action names the refused ids; bad input gets the usual field errors.
BULK_REFUSED = {
    "anyOf": [
        {
            "type": "object",
            "description": "The action was refused for `ids` (their reasons in `errors`, by id).",
            "required": ["detail", "ids", "errors"],
            "properties": {
                "detail": {"type": "string"},
                "ids": {"type": "array", "items": {"type": "integer"}},
                "errors": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        {
            "type": "object",
            "description": "Field errors, by field name.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    ]
}
CONFLICT = OpenApiResponse(
    TransitionRefusedSerializer, description="Illegal move (lists `allowed`) or stale version."
)


def comment_json(pk: int) -> dict[str, Any]:
    """A comment as the API answers it, read back with its author and attachments."""
    return CommentSerializer(
        Comment.objects.select_related("author").prefetch_related("attachments").get(pk=pk)
    ).data


def macro_for(request: Request, macro_id: int) -> Macro:
    """A macro the caller may use, else a 400 naming the field (never a 500, never another's)."""
    macro = Macro.objects.available_to(request.user).active().filter(pk=macro_id).first()
    if macro is None:
        raise exceptions.ValidationError({"macro": [f"No macro {macro_id} you may use."]})
    return macro


def shown_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """A macro's changes as JSON: people by email, teams by name."""
    shown: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "assignee":
            value = value.email if value is not None else None
        elif name == "team":
            value = value.name if value is not None else None
        shown[name] = list(value) if name == "tags" else value
    return shown


class TicketPagination(PageNumberPagination):
    """Pages whose ``count`` stops at 10,000 (``count_is_exact`` false beyond): a million-row
    list must not scan every visible ticket to count them on each request."""

    django_paginator_class = CappedCountPaginator

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "count": self.page.paginator.count,
                "count_is_exact": getattr(self.page.paginator, "count_is_exact", True),
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count_is_exact"] = {
            "type": "boolean",
            "description": "False when there are more than 10,000 matches (count is capped).",
        }
        return response


def extension_filter_parameters() -> list[OpenApiParameter]:
    """The list filters other apps register (the SLA state, say): applied, so documented.
    Read when this module is imported, after every app's ``ready()`` registered its own."""
    return [
        OpenApiParameter(
            name,
            str,
            many=True,
            enum=[value for value, _label in extra.choices] or None,
            description=str(extra.label),
        )
        for name, extra in sorted(extensions.queue_filters.items())
    ]


class DomainErrorsMixin:
    """Turns the domain's exceptions into JSON 4xx answers with their message."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ResolutionRequired):
            return Response(
                {
                    "detail": exc.message,
                    "resolution": [exc.message],
                    "current": exc.current,
                    "allowed": exc.allowed,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        if isinstance(exc, IllegalTransition):
            return Response(
                {"detail": exc.message, "current": exc.current, "allowed": exc.allowed},
                status=status.HTTP_409_CONFLICT,
            )
        if isinstance(exc, StaleTicket):
            return Response(
                {"detail": str(exc), "version": exc.ticket.version}, status=status.HTTP_409_CONFLICT
            )
        if isinstance(exc, actions.BulkActionError):
            return Response(
                {"detail": str(exc), "ids": sorted(exc.errors), "errors": exc.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if isinstance(exc, StorageUnavailable):
            return Response(
                {"detail": " ".join(exc.messages), **exc.message_dict},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        if isinstance(exc, DjangoPermissionDenied):
            exc = exceptions.PermissionDenied(str(exc) or None)
        return super().handle_exception(exc)


def require_agent(request: Request, message: str = IsAgent.message) -> None:
    if not request.user.is_agent:
        raise exceptions.PermissionDenied(message)


@extend_schema_view(
    list=extend_schema(
        summary="List the tickets you may see",
        parameters=[
            OpenApiParameter(
                "sort", str, description=f"One of {', '.join(SORTS)}, prefixed with - for descending."
            ),
            OpenApiParameter("page_size", int, description="Rows per page (at most 200)."),
            *extension_filter_parameters(),
        ],
    ),
    retrieve=extend_schema(summary="A ticket (a view of a sensitive ticket is audited)"),
)
class TicketViewSet(
    DomainErrorsMixin,
    ReplicaReadsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Requesters see their own tickets, viewers read, agents work the tickets they see, admins all."""

    serializer_class = TicketSerializer
    permission_classes = [IsAuthenticated, ReadOnlyForViewers]
    pagination_class = TicketPagination
    filterset_class = TicketFilter
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Ticket]:
        return Ticket.objects.visible_to(self.request.user).select_related(
            "requester", "assignee", "team", "category", "organisation"
        )

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # The list filters apply to lists only: an archived ticket is still found by its id.
        if self.action not in ("list", "stats"):
            return queryset
        params = self.request.query_params
        known = set(TicketFilter.base_filters) | set(extensions.queue_filters) | LIST_PARAMETERS
        unknown = sorted(set(params) - known)
        if unknown:
            raise exceptions.ValidationError(
                {
                    "detail": f"Unknown query parameter(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
                }
            )
        queryset = super().filter_queryset(queryset)
        if self.action == "stats":
            return queryset
        sort = params.get("sort", "").strip()
        if sort and sort.lstrip("-") not in set(SORTS) | set(extensions.queue_sorts):
            keys = sorted(set(SORTS) | set(extensions.queue_sorts))
            raise exceptions.ValidationError(
                {"sort": [f"Unknown sort {sort!r}; use one of {', '.join(keys)}."]}
            )
        return sort_tickets(queryset, sort, searching=bool(params.get("search", "").strip()))

    def get_ticket(self, *, viewing: bool = False) -> Ticket:
        ticket = self.get_object()
        if viewing:
            actions.do_record_sensitive_view(ticket, self.request.user, channel=AccessChannel.API)
        return ticket

    def fresh(self, ticket: Ticket) -> dict[str, Any]:
        # Not through visible_to: an agent who just moved a sensitive ticket away still gets the result.
        related = ("requester", "assignee", "team", "category", "organisation")
        return TicketSerializer(Ticket.objects.select_related(*related).get(pk=ticket.pk)).data

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(TicketSerializer(self.get_ticket(viewing=True)).data)

    @extend_schema(
        summary="Open a ticket", request=TicketCreateSerializer, responses={201: TicketSerializer, **REFUSED}
    )
    def create(self, request: Request) -> Response:
        data = TicketCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        ticket = actions.do_create_ticket(actor=request.user, channel="api", **values)
        return Response(self.fresh(ticket), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a ticket (not its status: see transition)",
        request=TicketUpdateSerializer,
        responses={200: TicketSerializer, 409: CONFLICT, **REFUSED},
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        require_agent(request, "Only agents edit tickets.")
        data = TicketUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        version = values.pop("version", None)
        # One edit: one lock, one version check, one version bump and audit row, one event.
        actions.do_edit_ticket(
            ticket, actions.TicketChanges(**values), actor=request.user, expected_version=version
        )
        return Response(self.fresh(ticket))

    @extend_schema(
        summary="Move a ticket through the status machine",
        request=TransitionSerializer,
        responses={200: TicketSerializer, 409: CONFLICT, **REFUSED},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        data = TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if request.user.is_requester:
            if values["to"] != TicketStatus.OPEN:
                raise exceptions.PermissionDenied(
                    "Requesters may only reopen (to: open) their resolved tickets."
                )
            actions.do_reopen_ticket(ticket, actor=request.user, reason=values["reason"])
        else:
            actions.do_transition_ticket(
                ticket,
                values["to"],
                actor=request.user,
                resolution=values["resolution"],
                reason=values["reason"],
                expected_version=values.get("version"),
            )
        return Response(self.fresh(ticket))

    @extend_schema(
        summary="Assign to an agent and/or a team",
        request=AssignSerializer,
        responses={200: TicketSerializer, 409: CONFLICT, **REFUSED},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        require_agent(request, "Only agents assign tickets.")
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        actions.do_assign_ticket(
            ticket,
            actor=request.user,
            assignee=values.get("assignee", ticket.assignee),
            team=values.get("team"),
            reason=values["reason"],
            expected_version=values.get("version"),
        )
        return Response(self.fresh(ticket))

    @extend_schema(
        summary="Override the priority, with a reason",
        request=PrioritySerializer,
        responses={200: TicketSerializer, 409: CONFLICT, **REFUSED},
    )
    @action(detail=True, methods=["post"])
    def priority(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        require_agent(request, "Only agents change the priority.")
        data = PrioritySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        actions.do_change_priority(
            ticket,
            actor=request.user,
            priority=values["priority"],
            reason=values["reason"],
            expected_version=values.get("version"),
        )
        return Response(self.fresh(ticket))

    @extend_schema(
        methods=["GET"],
        summary="The conversation (requesters never see internal notes)",
        responses=CommentSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Reply, or add an internal note (agents)",
        request={"application/json": CommentCreateSerializer, "multipart/form-data": CommentCreateSerializer},
        responses={201: CommentSerializer, **REFUSED},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def comments(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "GET":
            ticket = self.get_ticket(viewing=True)
            comments = (
                Comment.objects.visible_to(request.user)
                .filter(ticket=ticket)
                .select_related("author")
                .prefetch_related("attachments")
                .order_by("created_at", "id")
            )
            page = self.paginate_queryset(comments)
            return self.get_paginated_response(CommentSerializer(page, many=True).data)
        ticket = self.get_object()
        data = CommentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        comment = actions.do_add_comment(
            ticket,
            actor=request.user,
            body=values["body"],
            internal=values["internal"],
            source="api",
            attachments=values["attachments"],
        )
        return Response(comment_json(comment.pk), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit the text of one of your own comments (marked edited; mirrored to Jira when linked)",
        request=CommentEditSerializer,
        responses={200: CommentSerializer, **REFUSED},
    )
    @action(detail=True, methods=["patch"], url_path=r"comments/(?P<comment_id>[0-9]+)")
    def edit_comment(
        self, request: Request, pk: str | None = None, comment_id: str | None = None
    ) -> Response:
        ticket = self.get_object()
        comment = (
            Comment.objects.visible_to(request.user)
            .filter(ticket=ticket, pk=comment_id)
            .select_related("ticket")
            .first()
        )
        if comment is None:
            raise exceptions.NotFound("No such comment on this ticket.")
        data = CommentEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actions.do_edit_comment(comment, actor=request.user, body=data.validated_data["body"])
        return Response(comment_json(comment.pk))

    @extend_schema(
        summary="The audit trail: every change of status, priority, assignee, team, category, sensitive "
        "flag, oldest first, paged by saves (a page holds the changes of up to page_size saves)",
        responses=AuditEntrySerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def audit(self, request: Request, pk: str | None = None) -> Response:
        if request.user.is_requester:
            raise exceptions.PermissionDenied("The audit trail is for the service desk.")
        ticket = self.get_ticket(viewing=True)
        # Paged by saves (the audit rows), so a ticket saved ten thousand times answers with
        # one page; each page reads its rows and the one before (what its first save changed).
        saves = (
            TicketAudit.objects.filter(pgh_obj_id=ticket.pk)
            .order_by("pgh_id")
            .values_list("pgh_id", flat=True)
        )
        page = self.paginate_queryset(saves)
        entries = [
            {
                "at": change.at,
                "event": change.event,
                "field": change.field,
                "old": change.old,
                "new": change.new,
                "actor": change.actor,
                "reason": change.reason,
            }
            for change in ticket.audit_trail(saves=list(page))
        ]
        return self.get_paginated_response(AuditEntrySerializer(entries, many=True).data)

    @extend_schema(
        methods=["GET"],
        summary="Links to other tickets (both directions)",
        responses=RelationSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Link to another ticket (duplicate_of can close this one)",
        request=RelationCreateSerializer,
        responses={201: RelationSerializer, **REFUSED},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def relations(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "POST":
            ticket = self.get_object()
            require_agent(request, "Only agents link tickets.")
            data = RelationCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
            target = ticket_by_reference(request.user, values["target"])
            relation = actions.do_add_relation(
                ticket,
                target=target,
                kind=values["kind"],
                actor=request.user,
                close_duplicate=values["close_duplicate"],
            )
            relation.target = target
            return Response(
                RelationSerializer(RelationSerializer.shape(relation, outgoing=True)).data,
                status=status.HTTP_201_CREATED,
            )
        ticket = self.get_ticket(viewing=True)
        outgoing = list(ticket.relations_out.select_related("target").order_by("created_at", "id"))
        incoming = list(ticket.relations_in.select_related("source").order_by("created_at", "id"))
        others = [relation.target_id for relation in outgoing] + [relation.source_id for relation in incoming]
        # The other side may be a ticket this caller may not see (someone else's, a sensitive one).
        visible = set(
            Ticket.objects.visible_to(request.user).filter(pk__in=others).values_list("pk", flat=True)
        )
        shaped = [RelationSerializer.shape(r, outgoing=True) for r in outgoing if r.target_id in visible]
        shaped += [RelationSerializer.shape(r, outgoing=False) for r in incoming if r.source_id in visible]
        return Response(RelationSerializer(shaped, many=True).data)

    @extend_schema(
        summary="Apply a macro: its reply and its changes, as one change by you (or preview it)",
        request=ApplyMacroSerializer,
        responses={200: ApplyMacroResultSerializer, 409: CONFLICT, **REFUSED},
    )
    @action(detail=True, methods=["post"], url_path="apply-macro")
    def apply_macro(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        require_agent(request, "Only agents apply macros.")
        data = ApplyMacroSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        macro = macro_for(request, values["macro"])
        if values["preview"]:
            preview = actions.preview_macro(macro, ticket, actor=request.user)
            shaped = {
                "body": preview.body,
                "internal": preview.internal,
                "changes": shown_changes(preview.changes),
            }
            return Response(MacroPreviewSerializer(shaped).data)
        comment, changed = actions.do_apply_macro(ticket, macro, actor=request.user, body=values.get("body"))
        return Response(
            {
                "ticket": self.fresh(ticket),
                "comment": comment_json(comment.pk) if comment else None,
                "changed": changed,
            }
        )

    @extend_schema(
        methods=["GET"],
        summary="Time logged on the ticket: entries and totals (agents)",
        responses=WorkLogListSerializer,
    )
    @extend_schema(
        methods=["POST"],
        summary="Log time on the ticket, as yourself",
        request=WorkLogCreateSerializer,
        responses={201: WorkLogSerializer, **REFUSED},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def worklogs(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        require_agent(request, "Time tracking is for agents.")
        if request.method == "POST":
            data = WorkLogCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            entry = actions.do_log_work(ticket, actor=request.user, **data.validated_data)
            return Response(WorkLogSerializer(entry).data, status=status.HTTP_201_CREATED)
        entries = WorkLog.objects.filter(ticket=ticket).select_related("user").order_by("worked_at", "id")
        totals = entries.totals()
        return Response(
            WorkLogListSerializer(
                {
                    "total_minutes": totals["minutes"],
                    "billable_minutes": totals["billable"],
                    "entries": entries,
                }
            ).data
        )

    @extend_schema(
        summary="Merge other tickets into this one (no undo; preview says what moves)",
        request=MergeSerializer,
        responses={200: MergeResultSerializer, **REFUSED},
    )
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str | None = None) -> Response:
        target = self.get_object()
        require_agent(request, "Only agents merge tickets.")
        data = MergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        sources = [ticket_by_reference(request.user, reference, "sources") for reference in values["sources"]]
        sources = actions.check_merge(target, sources, actor=request.user)
        plan = MergePlanSerializer(actions.merge_plan(target, sources), many=True).data
        if not values["preview"]:
            actions.do_merge_tickets(target, sources, actor=request.user)
        return Response({"preview": values["preview"], "target": self.fresh(target), "sources": plan})

    @extend_schema(
        summary="One action on many tickets, all or nothing",
        request=BulkSerializer,
        responses={
            200: BulkResultSerializer,
            400: OpenApiResponse(
                BULK_REFUSED,
                description="Nothing changed: `ids` were refused, or the input has field errors.",
            ),
            403: REFUSED[403],
        },
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        require_agent(request, "Only agents run bulk actions.")
        data = BulkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        ids = values.pop("ids")
        if "assignee" in values and values["assignee"] is None:
            values["unassign"] = True  # an explicit null
        if "status" in values:
            values["status"] = str(values["status"])
        if "macro" in values:
            values["macro"] = macro_for(request, values["macro"])
        changed = actions.do_bulk_action(ids, actor=request.user, **values)
        tickets = self.get_queryset().filter(pk__in=[ticket.pk for ticket in changed]).order_by("pk")
        return Response(
            {
                "action": values["action"],
                "count": len(changed),
                "tickets": TicketSerializer(tickets, many=True).data,
            }
        )

    @extend_schema(
        summary="Counts by status, priority, category and team over the tickets you see "
        "(the list filters apply)",
        responses=StatsSerializer,
        filters=True,
        parameters=extension_filter_parameters(),
    )
    @action(detail=False, methods=["get"])
    def stats(self, request: Request) -> Response:
        queryset = self.filter_queryset(Ticket.objects.visible_to(request.user))
        return Response(StatsSerializer(queryset.breakdown()).data)


@extend_schema_view(
    list=extend_schema(summary="Your exports"),
    retrieve=extend_schema(summary="An export's status"),
)
class ExportViewSet(
    DomainErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """CSV/JSON exports of a filtered ticket list, built by the worker; each visible to its requester only."""

    serializer_class = ExportSerializer
    permission_classes = [IsAuthenticated, ReadOnlyForViewers]
    http_method_names = ["get", "post", "head", "options"]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[ExportJob]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return ExportJob.objects.none()
        return ExportJob.objects.filter(requested_by=self.request.user).order_by("-created_at", "-id")

    @extend_schema(
        summary="Ask for an export (202; poll it, then download it)",
        request=ExportCreateSerializer,
        responses={202: ExportSerializer, **REFUSED},
    )
    def create(self, request: Request) -> Response:
        data = ExportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = actions.do_request_export(
            actor=request.user,
            format=data.validated_data["format"],
            filters=data.validated_data["filters"],
        )
        return Response(ExportSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Download a ready export",
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/json"): OpenApiTypes.BINARY,
            409: OpenApiResponse(StateConflictSerializer, description="Not ready yet (or failed)."),
            404: REFUSED[404],
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> Response | FileResponse:
        job = self.get_object()
        if job.status != ExportStatus.READY or not job.file:
            return Response(
                {"detail": f"Export {job.pk} is {job.status}, not ready.", "status": job.status},
                status=status.HTTP_409_CONFLICT,
            )
        content_type = "text/csv" if job.format == "csv" else "application/json"
        try:
            handle = open_stored(job.file, label=f"export {job.pk}")
        except Http404:
            return Response(
                {"detail": f"The file of export {job.pk} is missing from the store."},
                status=status.HTTP_404_NOT_FOUND,
            )
        except StoreDown:
            return Response(
                {"detail": "The file store is unavailable; try again later."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"tickets-{job.pk}.{job.format}",
            content_type=content_type,
        )
