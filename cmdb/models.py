"""Configuration items, their relations, the tickets that affect them, and what extraction
suggests. Items, relations and ticket links keep an immutable history (pghistory)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower, Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cmdb.structures import (
    ItemAttributes,
    WeeklyWindow,
    is_hostlike,
    is_numbered_host,
    parse_attributes,
    parse_windows,
    phrase_key,
    phrase_keys,
    shape_key,
)
from tickets.models.ticket import OPEN_STATUSES

if TYPE_CHECKING:
    from itsm.models import User


class ItemType(models.TextChoices):
    SERVER = "server", _("Server")
    SERVICE = "service", _("Service")
    APPLICATION = "application", _("Application")
    DATABASE = "database", _("Database")
    NETWORK_DEVICE = "network_device", _("Network device")
    OTHER = "other", _("Other")


class Environment(models.TextChoices):
    PROD = "prod", _("Production")
    STAGING = "staging", _("Staging")
    DEV = "dev", _("Development")


class ItemStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    MAINTENANCE = "maintenance", _("In maintenance")
    RETIRED = "retired", _("Retired")


class RelationKind(models.TextChoices):
    DEPENDS_ON = "depends_on", _("depends on")
    RUNS_ON = "runs_on", _("runs on")
    PART_OF = "part_of", _("part of")


class LinkRole(models.TextChoices):
    AFFECTED = "affected", _("Affected")
    CAUSED_BY = "caused_by", _("Caused by")


class LinkSource(models.TextChoices):
    MANUAL = "manual", _("Linked by hand")
    SUGGESTION = "suggestion", _("Accepted suggestion")
    AUTOMATIC = "automatic", _("Linked automatically")
    IMPORT = "import", _("Import or API")


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", _("Suggested")
    ACCEPTED = "accepted", _("Accepted")
    DISMISSED = "dismissed", _("Dismissed")
    LINKED = "linked", _("Linked automatically")


class MatchKind(models.TextChoices):
    NAME = "name", _("name")
    ALIAS = "alias", _("alias")
    HOSTNAME = "hostname", _("host name")
    IP_ADDRESS = "ip", _("IP address")
    SERVICE_AT_HOST = "service_at_host", _("service@host")
    UNKNOWN_HOST = "unknown_host", _("unknown host")


def default_timezone() -> str:
    return settings.TIME_ZONE


# The fields the match keys come from.
KEY_SOURCES = {"name", "aliases", "hostnames", "ip_addresses"}


class ConfigurationItemQuerySet(models.QuerySet):
    def visible_to(self, user: User) -> ConfigurationItemQuerySet:
        """Items are internal: agents, admins and viewers read them; requesters see none."""
        if not user.is_authenticated or not user.is_active or user.is_requester:
            return self.none()
        return self

    def in_service(self) -> ConfigurationItemQuerySet:
        """Not retired: what extraction matches and pickers offer."""
        return self.exclude(status=ItemStatus.RETIRED)

    def matching_keys(self, keys: list[str]) -> ConfigurationItemQuerySet:
        """Items one of whose names, aliases, host names or addresses is in ``keys``."""
        return self.filter(pk__in=ItemKey.objects.filter(key__in=keys).values("item_id"))

    def search(self, text: str) -> ConfigurationItemQuerySet:
        """Part of the name, or a whole name, alias, host name or address."""
        text = " ".join(text.split())
        if not text:
            return self
        return self.filter(
            Q(name__icontains=text) | Q(pk__in=ItemKey.objects.filter(key=text.lower()).values("item_id"))
        )


@pghistory.track(
    pghistory.InsertEvent("created"),
    pghistory.UpdateEvent("changed"),
    pghistory.DeleteEvent("deleted"),
    fields=[
        "name",
        "type",
        "environment",
        "status",
        "owner_team",
        "attributes",
        "aliases",
        "hostnames",
        "ip_addresses",
        "maintenance_windows",
    ],
    model_name="ConfigurationItemEvent",
    obj_field=pghistory.ObjForeignKey(
        related_name="events", db_constraint=False, on_delete=models.DO_NOTHING
    ),
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class ConfigurationItem(models.Model):
    name = models.CharField(_("name"), max_length=200)
    type = models.CharField(_("type"), max_length=20, choices=ItemType.choices)
    environment = models.CharField(
        _("environment"), max_length=10, choices=Environment.choices, default=Environment.PROD
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ItemStatus.choices, default=ItemStatus.ACTIVE
    )
    owner_team = models.ForeignKey(
        "itsm.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="configuration_items",
        verbose_name=_("owner team"),
    )
    description = models.TextField(_("description"), blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    aliases = ArrayField(
        models.CharField(max_length=200), default=list, blank=True, verbose_name=_("aliases")
    )
    hostnames = ArrayField(
        models.CharField(max_length=253), default=list, blank=True, verbose_name=_("host names")
    )
    ip_addresses = ArrayField(
        models.GenericIPAddressField(), default=list, blank=True, verbose_name=_("IP addresses")
    )
    maintenance_windows = models.JSONField(_("maintenance windows"), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Declared last: in this class body the name hides django.utils.timezone.
    timezone = models.CharField(_("time zone"), max_length=60, default=default_timezone)

    objects = ConfigurationItemQuerySet.as_manager()

    class Meta:
        ordering = ["name", "type"]
        verbose_name = _("configuration item")
        constraints = [
            # Imports upsert by name and type: one item per pair, whatever the case.
            models.UniqueConstraint(Lower("name"), "type", name="cmdb_item_name_type_unique"),
        ]
        indexes = [
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="cmdb_item_name_trgm_idx"),
            models.Index(fields=["type", "environment", "status"], name="cmdb_item_filters_idx"),
            models.Index(fields=["owner_team", "name"], name="cmdb_item_team_idx"),
            models.Index(fields=["status", "name"], name="cmdb_item_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        super().save(*args, **kwargs)
        update_fields = kwargs.get("update_fields")
        if update_fields is None or KEY_SOURCES & set(update_fields):
            self.sync_keys()

    def sync_keys(self) -> None:
        """Write the keys ``compute_match_keys`` gives, and only those."""
        wanted = set(self.compute_match_keys())
        present = set(self.keys.values_list("key", flat=True))
        if present - wanted:
            self.keys.filter(key__in=present - wanted).delete()
        if wanted - present:
            ItemKey.objects.bulk_create(
                [ItemKey(item=self, key=key) for key in sorted(wanted - present)], ignore_conflicts=True
            )

    def compute_match_keys(self) -> list[str]:
        """Every lower-case form a ticket may name this item by: name and aliases (as words),
        host names and their short form, addresses, and the shape of its numbered names."""
        keys = set(phrase_keys(self.name))
        for alias in self.aliases:
            keys |= phrase_keys(alias)
        labels = [phrase_key(self.name)] if " " not in phrase_key(self.name) else []
        for host in self.hostnames:
            keys.add(host)
            short = host.split(".", 1)[0]
            if "." in host and is_hostlike(short):
                keys.add(short)
            labels.append(short)
        # Siblings: a host numbered like this one's names (web03 beside web01).
        keys |= {shape_key(label) for label in labels if is_numbered_host(label)}
        keys |= {str(address) for address in self.ip_addresses}
        return sorted(key for key in keys if len(key) >= 2)

    # --- typed views of the JSON fields ---------------------------------------------------
    def typed_attributes(self) -> ItemAttributes:
        return parse_attributes(self.attributes)

    def windows(self) -> list[WeeklyWindow]:
        return parse_windows(self.maintenance_windows)

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    # --- predicates ---------------------------------------------------------------------
    @property
    def is_retired(self) -> bool:
        return self.status == ItemStatus.RETIRED

    def has_maintenance_windows(self) -> bool:
        return bool(self.maintenance_windows)

    def window_covering(self, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence of a weekly window that holds all of ``start``–``end``, if any."""
        zone = self.zone()
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        day = local_start.date() - timedelta(days=1)  # a window from the evening before may cover it
        while day <= local_start.date():
            for window in self.windows():
                if window.weekday != day.weekday():
                    continue
                opens = datetime.combine(day, window.start, tzinfo=zone)
                closes_on = day + timedelta(days=1) if window.crosses_midnight else day
                closes = datetime.combine(closes_on, window.end, tzinfo=zone)
                if opens <= local_start and local_end <= closes:
                    return opens, closes
            day += timedelta(days=1)
        return None

    def is_outside_maintenance_windows(self, start: datetime, end: datetime) -> bool:
        """Whether work from ``start`` to ``end`` falls outside every maintenance window.

        An item without windows has no constraint: nothing is outside.
        """
        if end < start:
            raise ValueError("The end comes before the start.")
        return self.has_maintenance_windows() and self.window_covering(start, end) is None


class ItemKey(models.Model):
    """One form a ticket may name an item by. Extraction asks the ``key`` index for all the
    words of a ticket at once (``key = ANY(…)``), one index probe per word."""

    item = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="keys")
    key = models.CharField(max_length=300)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "key"], name="cmdb_item_key_unique")]
        indexes = [models.Index(fields=["key", "item"], name="cmdb_item_key_idx")]

    def __str__(self) -> str:
        return self.key


@pghistory.track(
    pghistory.InsertEvent("added"),
    pghistory.DeleteEvent("removed"),
    model_name="ItemRelationEvent",
    obj_field=pghistory.ObjForeignKey(
        related_name="events", db_constraint=False, on_delete=models.DO_NOTHING
    ),
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class ItemRelation(models.Model):
    """``source`` depends on / runs on / is part of ``target``."""

    source = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="relations_out")
    target = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="relations_in")
    kind = models.CharField(_("relation"), max_length=12, choices=RelationKind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "id"]
        verbose_name = _("relation between items")
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="cmdb_relation_unique"),
            models.CheckConstraint(condition=~Q(source=F("target")), name="cmdb_relation_not_self"),
        ]
        indexes = [models.Index(fields=["target", "kind"], name="cmdb_relation_target_idx")]

    def __str__(self) -> str:
        return f"{self.source_id} {self.kind} {self.target_id}"


class TicketItemQuerySet(models.QuerySet):
    def on_open_tickets(self) -> TicketItemQuerySet:
        return self.filter(ticket__status__in=OPEN_STATUSES)


@pghistory.track(
    pghistory.InsertEvent("linked"),
    pghistory.DeleteEvent("unlinked"),
    model_name="TicketItemEvent",
    obj_field=pghistory.ObjForeignKey(
        related_name="events", db_constraint=False, on_delete=models.DO_NOTHING
    ),
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class TicketItem(models.Model):
    """A ticket's link to an item it affects, or that caused it."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="item_links")
    item = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="ticket_links")
    role = models.CharField(_("role"), max_length=10, choices=LinkRole.choices, default=LinkRole.AFFECTED)
    source = models.CharField(max_length=12, choices=LinkSource.choices, default=LinkSource.MANUAL)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    linked_at = models.DateTimeField(default=timezone.now)

    objects = TicketItemQuerySet.as_manager()

    class Meta:
        ordering = ["linked_at", "id"]
        verbose_name = _("ticket's configuration item")
        constraints = [
            models.UniqueConstraint(fields=["ticket", "item", "role"], name="cmdb_ticket_item_unique"),
        ]
        indexes = [models.Index(fields=["item", "-linked_at"], name="cmdb_ticket_item_item_idx")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.role} {self.item_id}"


class ItemSuggestionQuerySet(models.QuerySet):
    def pending(self) -> ItemSuggestionQuerySet:
        return self.filter(status=SuggestionStatus.PENDING)

    def of_items(self) -> ItemSuggestionQuerySet:
        return self.filter(item__isnull=False)

    def unknown_hosts(self) -> ItemSuggestionQuerySet:
        return self.filter(item__isnull=True)


# Where in a ticket extraction found a mention (``ItemSuggestion.field``).
FOUND_IN = {
    "title": _("title"),
    "description": _("description"),
    "service": _("service"),
    "metadata": _("metadata (ci)"),
}


class ItemSuggestion(models.Model):
    """What extraction found in a ticket: a known item, or a host name no item has (yet)."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="item_suggestions")
    item = models.ForeignKey(
        ConfigurationItem, null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions"
    )
    hostname = models.CharField(_("host name"), max_length=253, blank=True)
    matched_text = models.CharField(_("found as"), max_length=300)
    match_kind = models.CharField(max_length=20, choices=MatchKind.choices)
    field = models.CharField(_("found in"), max_length=20)
    status = models.CharField(
        _("status"), max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ItemSuggestionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("suggested item")
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "item"], condition=Q(item__isnull=False), name="cmdb_suggestion_item_unique"
            ),
            models.UniqueConstraint(
                fields=["ticket", "hostname"],
                condition=Q(item__isnull=True),
                name="cmdb_suggestion_host_unique",
            ),
            models.CheckConstraint(
                condition=Q(item__isnull=False) | ~Q(hostname=""), name="cmdb_suggestion_item_or_host"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.item_id or self.hostname} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == SuggestionStatus.PENDING

    @property
    def is_unknown_host(self) -> bool:
        return self.item_id is None

    @property
    def field_label(self) -> str:
        return str(FOUND_IN.get(self.field, self.field))


class CmdbSettings(models.Model):
    """The organisation's configuration-database settings: one row (``CmdbSettings.load()``)."""

    link_exact_matches = models.BooleanField(
        _("link exact matches automatically"),
        default=False,
        help_text=_(
            "Items a ticket names without ambiguity (one item has that name, alias, host name or "
            "address) are linked as affected at once instead of being suggested."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("configuration database settings")
        verbose_name_plural = _("configuration database settings")

    def __str__(self) -> str:
        return str(_("Configuration database settings"))

    @classmethod
    def load(cls) -> CmdbSettings:
        row, _created = cls.objects.get_or_create(pk=1)
        return row
