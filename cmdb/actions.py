"""Configuration-item workflows: pages, the API, the importer, tasks and commands call these.

Every write records who made it in the item's history (pghistory context, as tickets do).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from cmdb import extraction, signals
from cmdb.models import (
    CmdbSettings,
    ConfigurationItem,
    Environment,
    ItemRelation,
    ItemStatus,
    ItemSuggestion,
    ItemType,
    LinkRole,
    LinkSource,
    RelationKind,
    SuggestionStatus,
    TicketItem,
)
from cmdb.structures import (
    clean_aliases,
    clean_hostnames,
    clean_ip_addresses,
    clean_name,
    parse_attributes,
    parse_windows,
)
from itsm.models import AutomationEvent, Team
from tickets.models import Ticket
from tickets.models.ticket import audited

if TYPE_CHECKING:
    from itsm.models import User

SYSTEM_ACTOR = "system:cmdb"
ITEM_FIELDS = (
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
)


class ItemInUse(Exception):
    """The item is linked to tickets: retire it instead of deleting it (HTTP 409)."""


class SuggestionDecided(Exception):
    """The suggestion was accepted or dismissed already (HTTP 409)."""


# --- checks --------------------------------------------------------------------------------
def check_can_edit_items(actor: User | None) -> None:
    """Agents and admins edit items; automation (actor None) always may."""
    if actor is not None and not actor.is_agent:
        raise PermissionDenied(gettext("Only agents and admins change configuration items."))


def check_can_link(ticket: Ticket, actor: User | None) -> None:
    if actor is None:
        return
    if not actor.is_agent or not ticket.is_visible_to(actor):
        raise PermissionDenied(gettext("You may not change this ticket's configuration items."))


def _choice(value: Any, choices: Iterable[str], field: str) -> str:
    choices = list(choices)
    if value not in choices:
        raise ValidationError({field: f"{value!r} is not one of {', '.join(choices)}."})
    return str(value)


def _timezone(value: Any) -> str:
    name = str(value or "").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError({"timezone": f"{name!r} is not a known time zone."}) from error
    return name


def clean_item_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise item fields (any subset of ``ITEM_FIELDS``); raises ValidationError
    with every field's problem at once."""
    unknown = set(values) - set(ITEM_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    cleaners = {
        "name": clean_name,
        "type": lambda v: _choice(v, ItemType.values, "type"),
        "environment": lambda v: _choice(v, Environment.values, "environment"),
        "status": lambda v: _choice(v, ItemStatus.values, "status"),
        "owner_team": lambda v: v if v is None or isinstance(v, Team) else _team(v),
        "description": lambda v: str(v or ""),
        "attributes": lambda v: parse_attributes(v).as_json(),
        "aliases": clean_aliases,
        "hostnames": clean_hostnames,
        "ip_addresses": clean_ip_addresses,
        "maintenance_windows": lambda v: [window.as_json() for window in parse_windows(v)],
        "timezone": _timezone,
    }
    cleaned, errors = {}, {}
    for name, value in values.items():
        try:
            cleaned[name] = cleaners[name](value)
        except ValidationError as error:
            for field_name, messages in error.message_dict.items():
                errors.setdefault(field_name, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _team(value: Any) -> Team:
    team = Team.objects.filter(name__iexact=str(value).strip()).first()
    if team is None and str(value).isdigit():
        team = Team.objects.filter(pk=int(value)).first()
    if team is None:
        raise ValidationError({"owner_team": f"No team {value!r}."})
    return team


def _check_unique(name: str, type: str, *, exclude: int | None = None) -> None:
    duplicates = ConfigurationItem.objects.filter(name__iexact=name, type=type)
    if exclude is not None:
        duplicates = duplicates.exclude(pk=exclude)
    if duplicates.exists():
        raise ValidationError({"name": f"A {type} named {name!r} exists already."})


# --- items -------------------------------------------------------------------------------------
@transaction.atomic
def do_create_item(*, actor: User | None, actor_label: str = "", **values: Any) -> ConfigurationItem:
    check_can_edit_items(actor)
    if "name" not in values or "type" not in values:
        raise ValidationError(
            {key: "This field is required." for key in ("name", "type") if key not in values}
        )
    cleaned = clean_item_fields(values)
    _check_unique(cleaned["name"], cleaned["type"])
    item = ConfigurationItem(**cleaned)
    try:
        with transaction.atomic(), audited(actor, "created", actor_label):
            item.save()
    except IntegrityError as error:  # created by someone else meanwhile
        raise ValidationError({"name": f"A {item.type} named {item.name!r} exists already."}) from error
    return item


@transaction.atomic
def do_update_item(
    item: ConfigurationItem, *, actor: User | None, fields: dict[str, Any], actor_label: str = ""
) -> list[str]:
    """Change some fields; returns the names of those that changed."""
    check_can_edit_items(actor)
    cleaned = clean_item_fields(fields)
    # Two editors (or an import and an editor) at once: the second waits, then compares with
    # what the first wrote instead of overwriting it with a stale copy.
    locked = ConfigurationItem.objects.select_for_update().get(pk=item.pk)
    changed = [name for name, value in cleaned.items() if getattr(locked, name) != value]
    if not changed:
        return []
    if {"name", "type"} & set(changed):
        _check_unique(cleaned.get("name", locked.name), cleaned.get("type", locked.type), exclude=locked.pk)
    for name in changed:
        setattr(locked, name, cleaned[name])
        setattr(item, name, cleaned[name])
    locked.updated_at = item.updated_at = timezone.now()
    with audited(actor, "changed", actor_label):
        locked.save(update_fields=[*changed, "updated_at"])
    return changed


@transaction.atomic
def do_delete_item(item: ConfigurationItem, *, actor: User | None, actor_label: str = "") -> None:
    """Delete an item no ticket links to; one with tickets is retired instead (ItemInUse)."""
    check_can_edit_items(actor)
    if TicketItem.objects.filter(item=item).exists():
        raise ItemInUse(
            gettext("%(name)s is linked to tickets: retire it instead of deleting it.") % {"name": item.name}
        )
    with audited(actor, "deleted", actor_label):
        item.delete()


# --- relations -----------------------------------------------------------------------------------
@transaction.atomic
def do_add_item_relation(
    source: ConfigurationItem,
    target: ConfigurationItem,
    *,
    kind: str,
    actor: User | None,
    actor_label: str = "",
    exist_ok: bool = False,
) -> ItemRelation:
    """``source`` depends on / runs on / is part of ``target``. A duplicate is refused, or
    returned as it is with ``exist_ok`` (imports)."""
    check_can_edit_items(actor)
    _choice(kind, RelationKind.values, "kind")
    if source.pk == target.pk:
        raise ValidationError({"target": gettext("An item cannot be related to itself.")})
    existing = ItemRelation.objects.filter(source=source, target=target, kind=kind).first()
    if existing is not None:
        if exist_ok:
            return existing
        raise ValidationError(
            {
                "target": gettext("%(source)s already %(kind)s %(target)s.")
                % {"source": source.name, "kind": RelationKind(kind).label, "target": target.name}
            }
        )
    try:
        with transaction.atomic(), audited(actor, f"{kind} {target.name}", actor_label):
            return ItemRelation.objects.create(source=source, target=target, kind=kind, created_by=actor)
    except IntegrityError:
        # Added by someone else in the meantime (the unique constraint settles the race).
        relation = ItemRelation.objects.get(source=source, target=target, kind=kind)
        if exist_ok:
            return relation
        raise ValidationError({"target": gettext("This relation exists already.")}) from None


@transaction.atomic
def do_remove_item_relation(relation: ItemRelation, *, actor: User | None, actor_label: str = "") -> None:
    check_can_edit_items(actor)
    with audited(actor, "relation removed", actor_label):
        relation.delete()


# --- tickets ↔ items --------------------------------------------------------------------------------
@transaction.atomic
def do_link_ticket_item(
    ticket: Ticket,
    item: ConfigurationItem,
    *,
    actor: User | None,
    role: str = LinkRole.AFFECTED,
    source: str = LinkSource.MANUAL,
    actor_label: str = "",
) -> tuple[TicketItem, bool]:
    """Link ``item`` to ``ticket`` in ``role``; linking twice changes nothing (returns created=False)."""
    check_can_link(ticket, actor)
    _choice(role, LinkRole.values, "role")
    existing = TicketItem.objects.filter(ticket=ticket, item=item, role=role).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic(), audited(actor, f"{role} {item.name}", actor_label or _label(actor)):
            link = TicketItem.objects.create(
                ticket=ticket, item=item, role=role, source=source, linked_by=actor
            )
    except IntegrityError:
        return TicketItem.objects.get(ticket=ticket, item=item, role=role), False
    # A suggestion of the same item is settled by the link.
    ItemSuggestion.objects.filter(ticket=ticket, item=item, status=SuggestionStatus.PENDING).update(
        status=SuggestionStatus.ACCEPTED if actor is not None else SuggestionStatus.LINKED,
        decided_by=actor,
        decided_at=timezone.now(),
    )
    signals.ticket_item_linked.send(sender=TicketItem, link=link, ticket=ticket, item=item, actor=actor)
    return link, True


def _label(actor: User | None) -> str:
    return "" if actor is not None else SYSTEM_ACTOR


@transaction.atomic
def do_unlink_ticket_item(
    ticket: Ticket, item: ConfigurationItem, *, actor: User | None, role: str | None = None
) -> int:
    """Remove ``item`` from ``ticket`` (in ``role``, or in every role); returns how many links went."""
    check_can_link(ticket, actor)
    if role is not None:
        _choice(role, LinkRole.values, "role")
    links = TicketItem.objects.filter(ticket=ticket, item=item)
    if role is not None:
        links = links.filter(role=role)
    removed = list(links)
    with audited(actor, f"unlinked {item.name}", _label(actor)):
        for link in removed:
            link.delete()
    for link in removed:
        signals.ticket_item_unlinked.send(sender=TicketItem, link=link, ticket=ticket, item=item, actor=actor)
    return len(removed)


# --- suggestions ------------------------------------------------------------------------------------
def _locked_suggestion(suggestion: ItemSuggestion) -> ItemSuggestion:
    # Two agents clicking at once: the second waits and finds the suggestion decided.
    locked = (
        ItemSuggestion.objects.select_for_update(of=("self",)).select_related("item").get(pk=suggestion.pk)
    )
    if not locked.is_pending:
        raise SuggestionDecided(
            gettext("This suggestion is already %(status)s.")
            % {"status": locked.get_status_display().lower()}
        )
    return locked


@transaction.atomic
def do_accept_suggestion(
    suggestion: ItemSuggestion, *, actor: User, role: str = LinkRole.AFFECTED
) -> TicketItem:
    """Link the suggested item (one click on the ticket page)."""
    check_can_link(suggestion.ticket, actor)
    locked = _locked_suggestion(suggestion)
    if locked.item is None:
        raise ValidationError(
            {
                "item": gettext("%(host)s is not a configuration item yet: add it first.")
                % {"host": locked.hostname}
            }
        )
    link, _created = do_link_ticket_item(
        locked.ticket, locked.item, actor=actor, role=role, source=LinkSource.SUGGESTION
    )
    locked.status = SuggestionStatus.ACCEPTED
    locked.decided_by, locked.decided_at = actor, timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    suggestion.status = locked.status
    return link


@transaction.atomic
def do_dismiss_suggestion(suggestion: ItemSuggestion, *, actor: User) -> ItemSuggestion:
    """Not this item (or not a host worth adding): it is not suggested again for this ticket."""
    check_can_link(suggestion.ticket, actor)
    locked = _locked_suggestion(suggestion)
    locked.status = SuggestionStatus.DISMISSED
    locked.decided_by, locked.decided_at = actor, timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    suggestion.status = locked.status
    return locked


# --- extraction ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExtractionOutcome:
    suggested: int
    linked: int
    unknown_hosts: int
    removed: int


@transaction.atomic
def do_extract_ticket_items(ticket: Ticket) -> ExtractionOutcome:
    """Read the ticket for mentioned items: suggest them (or link the unambiguous ones when the
    settings say so) and keep unknown host names as suggestions. Idempotent: running it again
    on the same text changes nothing; a dismissed suggestion stays dismissed; pending ones the
    text no longer mentions are dropped."""
    with connection.cursor() as cursor:
        # One extraction of a ticket at a time (an edit may queue a run while one is going).
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"cmdb-extract:{ticket.pk}"])
    ticket = Ticket.objects.get(pk=ticket.pk)
    found = extraction.extract(extraction.ticket_fields(ticket))
    auto_link = CmdbSettings.load().link_exact_matches
    linked_items = set(TicketItem.objects.filter(ticket=ticket).values_list("item_id", flat=True))
    existing = list(ItemSuggestion.objects.filter(ticket=ticket))
    by_item = {s.item_id: s for s in existing if s.item_id is not None}
    by_host = {s.hostname: s for s in existing if s.item_id is None}
    suggested = linked = unknown = 0
    seen_items, seen_hosts = set(), set()
    for match in found.items:
        seen_items.add(match.item.pk)
        if match.item.pk in linked_items or match.item.pk in by_item:
            continue  # already linked, or suggested before (whatever the agent decided)
        if auto_link and match.unambiguous:
            do_link_ticket_item(
                ticket, match.item, actor=None, source=LinkSource.AUTOMATIC, actor_label=SYSTEM_ACTOR
            )
            status = SuggestionStatus.LINKED
            linked += 1
            AutomationEvent.objects.create(
                actor=SYSTEM_ACTOR,
                action="cmdb.item_linked",
                subject_type="ticket",
                subject_id=str(ticket.pk),
                after={"item": match.item.pk, "role": LinkRole.AFFECTED},
                reason=f"{match.kind} {match.text!r} in the {match.field}",
            )
        else:
            status = SuggestionStatus.PENDING
            suggested += 1
        ItemSuggestion.objects.create(
            ticket=ticket,
            item=match.item,
            matched_text=match.text,
            match_kind=match.kind,
            field=match.field,
            status=status,
        )
    for mention in found.unknown_hosts:
        seen_hosts.add(mention.key)
        if mention.key in by_host:
            continue
        ItemSuggestion.objects.create(
            ticket=ticket,
            hostname=mention.key,
            matched_text=mention.text[:300],
            match_kind=mention.kind,
            field=mention.field,
        )
        unknown += 1
    stale = [
        s.pk
        for s in existing
        if s.is_pending and (s.item_id not in seen_items if s.item_id else s.hostname not in seen_hosts)
    ]
    if stale:
        ItemSuggestion.objects.filter(pk__in=stale).delete()
    return ExtractionOutcome(suggested=suggested, linked=linked, unknown_hosts=unknown, removed=len(stale))
