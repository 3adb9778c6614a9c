"""Configuration-item API. Agents and admins write, viewers read, requesters are refused (403).

GET/POST          /api/cmdb/items/                 ?q= &type= &environment= &status= &owner_team= &hostname= &ip=
GET/PATCH/DELETE  /api/cmdb/items/{id}/            (detail: relations both ways, open tickets)
POST              /api/cmdb/items/import/          CSV or JSON, all or nothing, ``dry_run``
POST/DELETE       /api/cmdb/items/{id}/relations/[{relation_id}/]
GET/POST          /api/tickets/{id}/items/         a ticket's items: list, link
DELETE            /api/tickets/{id}/items/{item_id}/?role=
GET               /api/tickets/{id}/items/suggestions/
POST              /api/cmdb/suggestions/{id}/accept/ · …/dismiss/
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from cmdb import actions, importer
from cmdb.models import (
    ConfigurationItem,
    Environment,
    ItemRelation,
    ItemStatus,
    ItemSuggestion,
    ItemType,
    LinkRole,
    TicketItem,
)
from cmdb.serializers import (
    AcceptSerializer,
    ImportReportSerializer,
    ImportSerializer,
    ItemDetailSerializer,
    ItemRelationCreateSerializer,
    ItemSerializer,
    ItemWriteSerializer,
    SuggestionSerializer,
    TicketItemCreateSerializer,
    TicketItemSerializer,
)
from cmdb.structures import normalise_hostname, normalise_ip
from itsm.permissions import ReadOnlyForViewers
from tickets.models import Ticket

OPEN_TICKETS_SHOWN = 50
CONFLICT = {409: OpenApiResponse(description="Linked to tickets (retire it) or already decided.")}


def require_staff(request: Request) -> None:
    """Items are internal: requesters have no access at all."""
    if request.user.is_requester:
        raise PermissionDenied("The configuration database is for the service desk.")


def require_writer(request: Request) -> None:
    if not request.user.is_agent:
        raise PermissionDenied("Only agents and admins change configuration items.")


def _choice(params: Any, name: str, choices: list[str]) -> str:
    value = params.get(name, "")
    if value and value not in choices:
        raise ValidationError({name: f"Use one of: {', '.join(choices)}."})
    return value


def open_links(item: ConfigurationItem, user: Any) -> list[TicketItem]:
    """The item's links to open tickets the user may see (most recent first, bounded)."""
    return list(
        TicketItem.objects.on_open_tickets()
        .filter(item=item, ticket__in=Ticket.objects.visible_to(user))
        .select_related("ticket")
        .order_by("-ticket__created_at")[:OPEN_TICKETS_SHOWN]
    )


@extend_schema_view(
    list=extend_schema(
        summary="Configuration items",
        parameters=[
            OpenApiParameter(
                "q", OpenApiTypes.STR, description="Part of the name, or a full alias/host/address"
            ),
            OpenApiParameter("type", OpenApiTypes.STR, enum=ItemType.values),
            OpenApiParameter("environment", OpenApiTypes.STR, enum=Environment.values),
            OpenApiParameter("status", OpenApiTypes.STR, enum=ItemStatus.values),
            OpenApiParameter("owner_team", OpenApiTypes.INT),
            OpenApiParameter("hostname", OpenApiTypes.STR),
            OpenApiParameter("ip", OpenApiTypes.STR),
        ],
    ),
    retrieve=extend_schema(summary="One item, its relations both ways and its open tickets"),
)
class ItemViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [IsAuthenticated, ReadOnlyForViewers]
    queryset = ConfigurationItem.objects.none()
    lookup_value_regex = "[0-9]+"
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_staff(request)

    def get_serializer_class(self) -> type:
        return ItemDetailSerializer if self.action == "retrieve" else ItemSerializer

    def get_queryset(self) -> QuerySet[ConfigurationItem]:
        queryset = ConfigurationItem.objects.visible_to(self.request.user).select_related("owner_team")
        if self.action == "retrieve":
            return queryset.prefetch_related(
                Prefetch("relations_out", queryset=ItemRelation.objects.select_related("target")),
                Prefetch("relations_in", queryset=ItemRelation.objects.select_related("source")),
            )
        if self.action != "list":
            return queryset
        params = self.request.query_params
        for name, choices in (
            ("type", ItemType.values),
            ("environment", Environment.values),
            ("status", ItemStatus.values),
        ):
            value = _choice(params, name, choices)
            if value:
                queryset = queryset.filter(**{name: value})
        if params.get("owner_team"):
            if not params["owner_team"].isdigit():
                raise ValidationError({"owner_team": "A team id."})
            queryset = queryset.filter(owner_team_id=int(params["owner_team"]))
        if params.get("hostname"):
            host = normalise_hostname(params["hostname"])
            if host is None:
                raise ValidationError({"hostname": "Not a host name."})
            queryset = queryset.filter(keys__key=host)
        if params.get("ip"):
            address = normalise_ip(params["ip"])
            if address is None:
                raise ValidationError({"ip": "Not an IPv4 or IPv6 address."})
            queryset = queryset.filter(keys__key=address)
        if params.get("q"):
            queryset = queryset.search(params["q"][:200])
        return queryset.order_by("name", "type", "id")

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        item = self.get_object()
        serializer = ItemDetailSerializer(
            item, context={"request": request, "open_links": open_links(item, request.user)}
        )
        return Response(serializer.data)

    def _detail(self, item: ConfigurationItem, status_code: int = 200) -> Response:
        item = (
            ConfigurationItem.objects.select_related("owner_team")
            .prefetch_related(
                Prefetch("relations_out", queryset=ItemRelation.objects.select_related("target")),
                Prefetch("relations_in", queryset=ItemRelation.objects.select_related("source")),
            )
            .get(pk=item.pk)
        )
        context = {"request": self.request, "open_links": open_links(item, self.request.user)}
        return Response(ItemDetailSerializer(item, context=context).data, status=status_code)

    @extend_schema(request=ItemWriteSerializer, responses={201: ItemDetailSerializer})
    def create(self, request: Request) -> Response:
        require_writer(request)
        data = ItemWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = actions.do_create_item(actor=request.user, **data.validated_data)
        return self._detail(item, status.HTTP_201_CREATED)

    @extend_schema(request=ItemWriteSerializer, responses={200: ItemDetailSerializer})
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        require_writer(request)
        item = self.get_object()
        data = ItemWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        actions.do_update_item(item, actor=request.user, fields=dict(data.validated_data))
        return self._detail(item)

    @extend_schema(responses={204: None, **CONFLICT})
    def destroy(self, request: Request, pk: Any = None) -> Response:
        require_writer(request)
        item = self.get_object()
        try:
            actions.do_delete_item(item, actor=request.user)
        except actions.ItemInUse as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={"multipart/form-data": ImportSerializer, "application/json": ImportSerializer},
        responses={
            200: ImportReportSerializer,
            400: OpenApiResponse(
                {
                    "anyOf": [
                        {"$ref": "#/components/schemas/ImportReport"},
                        {
                            "type": "object",
                            "description": "Field errors by field name: a list of messages, or "
                            "messages by row for `items` (nothing was imported).",
                            "additionalProperties": {"type": ["array", "object"]},
                        },
                    ]
                },
                description="Nothing was imported: the rows' problems (a report), or field errors.",
            ),
        },
        summary="Import or update items from CSV or JSON (all or nothing)",
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_items(self, request: Request) -> Response:
        require_writer(request)
        data = ImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values.get("file"):
            payload: bytes | str = values["file"].read()
            file_format = values["format"]
        else:
            payload, file_format = json.dumps(values["items"]), "json"
        try:
            report = importer.do_import_items(
                payload, format=file_format, actor=request.user, dry_run=values["dry_run"]
            )
        except importer.ImportFailed as failure:
            body = importer.ImportReport(errors=failure.errors, dry_run=values["dry_run"]).as_json()
            body["detail"] = f"Nothing was imported: {len(failure.errors)} problem(s)."
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(report.as_json())

    @extend_schema(request=ItemRelationCreateSerializer, responses={201: ItemDetailSerializer})
    @action(detail=True, methods=["post"])
    def relations(self, request: Request, pk: Any = None) -> Response:
        require_writer(request)
        item = self.get_object()
        data = ItemRelationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = ConfigurationItem.objects.filter(pk=data.validated_data["target"]).first()
        if target is None:
            raise ValidationError({"target": "No such item."})
        actions.do_add_item_relation(item, target, kind=data.validated_data["kind"], actor=request.user)
        return self._detail(item, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"relations/(?P<relation_id>[0-9]+)")
    def remove_relation(self, request: Request, pk: Any = None, relation_id: str = "") -> Response:
        require_writer(request)
        item = self.get_object()
        relation = get_object_or_404(ItemRelation, pk=int(relation_id), source=item)
        actions.do_remove_item_relation(relation, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- a ticket's items (registered under /api/tickets/ by cmdb's own urls) -----------------------------
def _ticket(request: Request, ticket_pk: int) -> Ticket:
    require_staff(request)
    return get_object_or_404(Ticket.objects.visible_to(request.user), pk=ticket_pk)


def _links(ticket: Ticket) -> list[TicketItem]:
    return list(ticket.item_links.select_related("item", "linked_by").order_by("linked_at", "id"))


@extend_schema(
    methods=["GET"], summary="A ticket's configuration items", responses=TicketItemSerializer(many=True)
)
@extend_schema(
    methods=["POST"],
    summary="Link an item to a ticket (linking twice changes nothing)",
    request=TicketItemCreateSerializer,
    responses={201: TicketItemSerializer, 200: TicketItemSerializer},
)
@api_view(["GET", "POST"])
def ticket_items(request: Request, ticket_pk: int) -> Response:
    ticket = _ticket(request, ticket_pk)
    if request.method == "GET":
        return Response(TicketItemSerializer(_links(ticket), many=True).data)
    require_writer(request)
    data = TicketItemCreateSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    item = ConfigurationItem.objects.filter(pk=data.validated_data["item"]).first()
    if item is None:
        raise ValidationError({"item": "No such item."})
    link, created = actions.do_link_ticket_item(
        ticket, item, actor=request.user, role=data.validated_data["role"]
    )
    return Response(TicketItemSerializer(link).data, status=status.HTTP_201_CREATED if created else 200)


@extend_schema(
    summary="Unlink an item from a ticket (every role, or ?role=)",
    parameters=[OpenApiParameter("role", OpenApiTypes.STR, enum=LinkRole.values)],
    responses={204: None, 404: OpenApiResponse(description="Not linked.")},
)
@api_view(["DELETE"])
def ticket_item_unlink(request: Request, ticket_pk: int, item_pk: int) -> Response:
    ticket = _ticket(request, ticket_pk)
    require_writer(request)
    role = _choice(request.query_params, "role", LinkRole.values) or None
    item = get_object_or_404(ConfigurationItem, pk=item_pk)
    if not actions.do_unlink_ticket_item(ticket, item, actor=request.user, role=role):
        return Response({"detail": f"{item.name} is not linked to {ticket.number}."}, status=404)
    return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(summary="What extraction found in a ticket", responses=SuggestionSerializer(many=True))
@api_view(["GET"])
def ticket_item_suggestions(request: Request, ticket_pk: int) -> Response:
    ticket = _ticket(request, ticket_pk)
    suggestions = ticket.item_suggestions.select_related("item").order_by("created_at", "id")
    return Response(SuggestionSerializer(suggestions, many=True).data)


def _suggestion(request: Request, pk: int) -> ItemSuggestion:
    require_staff(request)
    require_writer(request)
    visible = Ticket.objects.visible_to(request.user)
    return get_object_or_404(
        ItemSuggestion.objects.select_related("ticket", "item").filter(ticket__in=visible), pk=pk
    )


@extend_schema(request=AcceptSerializer, responses={200: TicketItemSerializer, **CONFLICT})
@api_view(["POST"])
def suggestion_accept(request: Request, pk: int) -> Response:
    suggestion = _suggestion(request, pk)
    data = AcceptSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        link = actions.do_accept_suggestion(suggestion, actor=request.user, role=data.validated_data["role"])
    except actions.SuggestionDecided as error:
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    return Response(TicketItemSerializer(link).data)


@extend_schema(request=None, responses={200: SuggestionSerializer, **CONFLICT})
@api_view(["POST"])
def suggestion_dismiss(request: Request, pk: int) -> Response:
    suggestion = _suggestion(request, pk)
    try:
        actions.do_dismiss_suggestion(suggestion, actor=request.user)
    except actions.SuggestionDecided as error:
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    return Response(SuggestionSerializer(suggestion).data)
