"""Shapes of the configuration-item API. Input serializers check shapes only: the rules (names,
host names, addresses, attributes, windows) are checked once, by ``cmdb.actions``."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cmdb.importer import ImportFormat
from cmdb.models import (
    ConfigurationItem,
    Environment,
    ItemStatus,
    ItemSuggestion,
    ItemType,
    LinkRole,
    RelationKind,
    TicketItem,
)
from cmdb.structures import ItemAttributes
from itsm.api import TeamRefSerializer


class ItemRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=ItemType.choices)
    environment = serializers.ChoiceField(choices=Environment.choices)
    status = serializers.ChoiceField(choices=ItemStatus.choices)


def item_ref(item: ConfigurationItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "name": item.name,
        "type": item.type,
        "environment": item.environment,
        "status": item.status,
    }


class WindowSerializer(serializers.Serializer):
    day = serializers.ChoiceField(choices=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
    start = serializers.CharField(help_text="HH:MM")
    end = serializers.CharField(help_text="HH:MM; at or before the start: the window runs past midnight")


class ItemSerializer(serializers.ModelSerializer):
    owner_team = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    attributes = serializers.SerializerMethodField()
    maintenance_windows = WindowSerializer(many=True, read_only=True)

    class Meta:
        model = ConfigurationItem
        fields = [
            "id",
            "name",
            "type",
            "environment",
            "status",
            "owner_team",
            "description",
            "attributes",
            "aliases",
            "hostnames",
            "ip_addresses",
            "maintenance_windows",
            "timezone",
            "created_at",
            "updated_at",
            "page_url",
        ]
        read_only_fields = fields

    @extend_schema_field(TeamRefSerializer(allow_null=True))
    def get_owner_team(self, item: ConfigurationItem) -> dict[str, Any] | None:
        team = item.owner_team
        return None if team is None else {"id": team.pk, "name": team.name}

    @extend_schema_field(serializers.CharField())
    def get_page_url(self, item: ConfigurationItem) -> str:
        return reverse("cmdb:item-detail", args=[item.pk])

    @extend_schema_field(serializers.DictField(help_text=ItemAttributes.__doc__))
    def get_attributes(self, item: ConfigurationItem) -> dict[str, Any]:
        return item.attributes


class ItemRelationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=RelationKind.choices)
    item = ItemRefSerializer(help_text="The other side of the relation.")


class OpenTicketSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.CharField()
    role = serializers.ChoiceField(choices=LinkRole.choices)


class ItemDetailSerializer(ItemSerializer):
    """One item with both directions of its relations and its open tickets (read prefetched)."""

    relations_out = serializers.SerializerMethodField()
    relations_in = serializers.SerializerMethodField()
    open_tickets = serializers.SerializerMethodField()

    class Meta(ItemSerializer.Meta):
        fields = [*ItemSerializer.Meta.fields, "relations_out", "relations_in", "open_tickets"]
        read_only_fields = fields

    @extend_schema_field(ItemRelationSerializer(many=True))
    def get_relations_out(self, item: ConfigurationItem) -> list[dict[str, Any]]:
        """This item → others: it depends on, runs on, is part of them."""
        return [{"id": r.pk, "kind": r.kind, "item": item_ref(r.target)} for r in item.relations_out.all()]

    @extend_schema_field(ItemRelationSerializer(many=True))
    def get_relations_in(self, item: ConfigurationItem) -> list[dict[str, Any]]:
        """Others → this item: they depend on, run on, are part of it."""
        return [{"id": r.pk, "kind": r.kind, "item": item_ref(r.source)} for r in item.relations_in.all()]

    @extend_schema_field(OpenTicketSerializer(many=True))
    def get_open_tickets(self, item: ConfigurationItem) -> list[dict[str, Any]]:
        return [
            {
                "id": link.ticket.pk,
                "number": link.ticket.number,
                "title": link.ticket.title,
                "status": link.ticket.status,
                "priority": link.ticket.priority,
                "role": link.role,
            }
            for link in self.context.get("open_links", [])
        ]


class ItemWriteSerializer(serializers.Serializer):
    """Create (name and type required) or change (any subset) an item."""

    name = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=ItemType.choices)
    environment = serializers.ChoiceField(choices=Environment.choices, required=False)
    status = serializers.ChoiceField(choices=ItemStatus.choices, required=False)
    owner_team = serializers.CharField(required=False, allow_null=True, help_text="Team name or id.")
    description = serializers.CharField(required=False, allow_blank=True)
    attributes = serializers.JSONField(required=False)
    aliases = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    hostnames = serializers.ListField(child=serializers.CharField(max_length=253), required=False)
    ip_addresses = serializers.ListField(child=serializers.CharField(max_length=60), required=False)
    maintenance_windows = serializers.ListField(child=serializers.DictField(), required=False)
    timezone = serializers.CharField(max_length=60, required=False)


class ItemRelationCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RelationKind.choices)
    target = serializers.IntegerField(help_text="The id of the other item.")


class ImportSerializer(serializers.Serializer):
    """Multipart: ``file`` (CSV or JSON) with ``format`` (guessed from the file name when
    absent) and ``dry_run``. JSON body: ``{"items": [...], "dry_run": false}``."""

    file = serializers.FileField(required=False)
    format = serializers.ChoiceField(choices=ImportFormat.choices, required=False)
    items = serializers.ListField(child=serializers.DictField(), required=False)
    dry_run = serializers.BooleanField(default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("file")) == ("items" in attrs):
            raise serializers.ValidationError(
                {"detail": "Send a file, or a JSON body with items (one of them)."}
            )
        if attrs.get("file") and "format" not in attrs:
            name = attrs["file"].name.lower()
            if not name.endswith((".csv", ".json")):
                raise serializers.ValidationError(
                    {"format": "Say csv or json (the file name does not tell)."}
                )
            attrs["format"] = "csv" if name.endswith(".csv") else "json"
        return attrs


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    relations_created = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    errors = ImportErrorSerializer(many=True)


class TicketItemSerializer(serializers.ModelSerializer):
    item = serializers.SerializerMethodField()
    linked_by = serializers.EmailField(source="linked_by.email", default=None, read_only=True)

    class Meta:
        model = TicketItem
        fields = ["id", "item", "role", "source", "linked_by", "linked_at"]
        read_only_fields = fields

    @extend_schema_field(ItemRefSerializer)
    def get_item(self, link: TicketItem) -> dict[str, Any]:
        return item_ref(link.item)


class TicketItemCreateSerializer(serializers.Serializer):
    item = serializers.IntegerField(help_text="The item's id.")
    role = serializers.ChoiceField(choices=LinkRole.choices, default=LinkRole.AFFECTED)


class SuggestionSerializer(serializers.ModelSerializer):
    item = serializers.SerializerMethodField()

    class Meta:
        model = ItemSuggestion
        fields = ["id", "item", "hostname", "matched_text", "match_kind", "field", "status", "created_at"]
        read_only_fields = fields

    @extend_schema_field(ItemRefSerializer(allow_null=True))
    def get_item(self, suggestion: ItemSuggestion) -> dict[str, Any] | None:
        return None if suggestion.item is None else item_ref(suggestion.item)


class AcceptSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=LinkRole.choices, default=LinkRole.AFFECTED)
