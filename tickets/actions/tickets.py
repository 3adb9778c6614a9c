"""Tickets: create, edit, move through the status machine, assign, prioritise, archive."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypedDict

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from itsm.approvals.models import ApprovalRequest, ApprovalStatus
from tickets import signals
from tickets.actions.attachments import check_attachment, store_attachment
from tickets.models import (
    Category,
    Channel,
    IllegalTransition,
    StaleTicket,
    Ticket,
    TicketStatus,
    TicketType,
    Watcher,
)
from tickets.models.catalog import CATALOG_APPROVAL_KIND
from tickets.models.priority import Impact, Priority, PriorityReasonRequired, Urgency, override_reason
from tickets.models.ticket import TRANSITIONS, audited
from tickets.validation import validate_description, validate_metadata, validate_tag

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from itsm.models import Team, User


# --- checks (untrusted input and permissions) --------------------------------------------
def check_can_change(ticket: Ticket, actor: User | None) -> None:
    """Agents (and admins) change tickets they can see; automation (actor None) always may."""
    if actor is None:
        return
    if not actor.is_agent or not ticket.is_visible_to(actor):
        raise PermissionDenied("You may not change this ticket.")


def check_choice(value: str, choices: Iterable[str], field: str) -> None:
    if value not in choices:
        raise ValidationError({field: f"{value!r} is not one of {', '.join(choices)}."})


def _locked(ticket: Ticket) -> Ticket:
    """The row, locked until the transaction ends: concurrent writers queue instead of racing."""
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def _adopt(caller: Ticket, fresh: Ticket) -> None:
    """Copy the saved state onto the caller's instance, so an object held by a view or a
    listener is never older than what was just written (no query)."""
    if caller is fresh:
        return
    for field in Ticket._meta.concrete_fields:
        if field.attname in fresh.__dict__:
            setattr(caller, field.attname, getattr(fresh, field.attname))
    caller._state.fields_cache.clear()


def check_release(ticket: Ticket, status: str) -> None:
    """A request pending approval moves on only by its approval: to ``new`` once approved
    (the approvals receiver moves it), or to ``cancelled`` (by an agent, or by the outcome)."""
    if ticket.status != TicketStatus.PENDING_APPROVAL or status == TicketStatus.CANCELLED:
        return
    approved = (
        ApprovalRequest.objects.for_target(ticket)
        .filter(kind=CATALOG_APPROVAL_KIND, status=ApprovalStatus.APPROVED)
        .exists()
    )
    if not approved:
        raise IllegalTransition(
            ticket.status,
            status,
            (TicketStatus.CANCELLED,),
            f"{ticket.number} waits for its approval: it moves on once approved, or is cancelled.",
        )


# --- tickets ------------------------------------------------------------------------------
INITIAL_STATUSES = (TicketStatus.NEW, TicketStatus.PENDING_APPROVAL)


@transaction.atomic
def do_create_ticket(
    *,
    actor: User | None,
    title: str,
    description: str = "",
    requester: User | None = None,
    type: str = TicketType.INCIDENT,
    impact: str = Impact.MEDIUM,
    urgency: str = Urgency.MEDIUM,
    priority: str | None = None,
    priority_reason: str = "",
    category: Any = None,
    service: str = "",
    channel: str = Channel.WEB,
    assignee: User | None = None,
    team: Team | None = None,
    tags: Iterable[str] = (),
    sensitive: bool = False,
    linked_entity_type: str = "",
    linked_entity_id: str = "",
    metadata: dict | None = None,
    external_key: str = "",
    attachments: Iterable[UploadedFile] = (),
    actor_label: str = "",
    created_at: Any = None,
    status: str = TicketStatus.NEW,
) -> Ticket:
    """Open a ticket. ``status`` is ``new``, or ``pending_approval`` for a catalog request that
    waits for its approval (``tickets.actions.catalog`` asks for it in the same transaction)."""
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "A title is required."})
    check_field("description", description or "", validate_description)
    if metadata:
        check_field("metadata", metadata, validate_metadata)
    check_choice(type, TicketType.values, "type")
    check_choice(status, INITIAL_STATUSES, "status")
    check_choice(impact, Impact.values, "impact")
    check_choice(urgency, Urgency.values, "urgency")
    if priority is not None:
        check_priority_override(priority, priority_reason)
    requester = requester or actor
    if requester is None:
        raise ValidationError({"requester": "A requester is required."})
    if actor is not None and not actor.is_agent and requester != actor:
        raise PermissionDenied("Requesters open tickets for themselves.")
    if actor is not None and actor.is_viewer:
        raise PermissionDenied("Viewers cannot open tickets.")
    check_assignee(assignee)
    uploads = list(attachments)
    for upload in uploads:
        check_attachment(upload)
    if team is None and category is not None and category.default_team_id:
        team = category.default_team
    now = created_at or timezone.now()
    ticket = Ticket(
        title=title[:255],
        description=description or "",
        requester=requester,
        organisation=requester.organisation,
        type=type,
        status=status,
        impact=impact,
        urgency=urgency,
        category=category,
        service=service,
        channel=channel,
        assignee=assignee,
        team=team,
        tags=normalise_tags(tags),
        sensitive=sensitive,
        linked_entity_type=linked_entity_type,
        linked_entity_id=linked_entity_id,
        metadata=metadata or {},
        external_key=external_key,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    if priority is not None:
        ticket.stage_priority(priority, reason=priority_reason)
    with audited(actor, ticket.priority_reason, actor_label):
        ticket.save()
    Watcher.objects.get_or_create(ticket=ticket, user=requester)
    for upload in uploads:
        store_attachment(ticket, upload, uploaded_by=actor)
    signals.ticket_created.send(sender=Ticket, ticket=ticket, actor=actor, actor_label=actor_label)
    return ticket


# --- one edit of a ticket --------------------------------------------------------------------
class TicketChanges(TypedDict, total=False):
    """What one edit changes: a key that is present means "change it" (``assignee: None``
    unassigns, ``team: None`` clears the team); a key that is absent is left as it is."""

    title: str
    description: str
    type: str
    category: Category | None
    service: str
    tags: Iterable[str]
    sensitive: bool
    linked_entity_type: str
    linked_entity_id: str
    metadata: dict[str, Any]
    # Re-derive the priority from the matrix, unless it is overridden.
    impact: str
    urgency: str
    # An override of the matrix; it needs ``priority_reason``.
    priority: str
    priority_reason: str
    assignee: User | None
    team: Team | None
    # One move the status machine allows; ``resolution`` goes with a move to resolved.
    status: str
    resolution: str


PLAIN_FIELDS = (
    "title",
    "description",
    "type",
    "category",
    "service",
    "tags",
    "sensitive",
    "linked_entity_type",
    "linked_entity_id",
    "metadata",
)
CHANGEABLE = set(TicketChanges.__annotations__)
# What ``ticket_updated`` reports: the fields a person changes, not the bookkeeping that follows.
REPORTED_FIELDS = {*PLAIN_FIELDS, "impact", "urgency", "priority", "assignee", "team", "status"}


def check_assignee(assignee: User | None) -> None:
    """Tickets are assigned to agents (or to nobody)."""
    if assignee is not None and not assignee.is_agent:
        raise ValidationError({"assignee": f"{assignee.email} is not an agent."})


def check_priority_override(
    priority: str, reason: str | None, *, reason_field: str = "priority_reason"
) -> None:
    """A known priority and a reason for overriding the matrix (``override_reason``); the error
    names ``reason_field``, the caller's name for the reason."""
    check_choice(priority, Priority.values, "priority")
    try:
        override_reason(reason)
    except PriorityReasonRequired as error:
        raise ValidationError({reason_field: str(error)}) from error


def check_changes(changes: TicketChanges) -> None:
    """Refuse an edit that cannot apply, before anything is locked or written."""
    values: dict[str, Any] = dict(changes)
    unknown = set(values) - CHANGEABLE
    if unknown:
        raise ValidationError({name: "This field cannot be edited here." for name in sorted(unknown)})
    if "title" in values and not str(values["title"]).strip():
        raise ValidationError({"title": "A title is required."})
    if "description" in values:
        check_field("description", values["description"] or "", validate_description)
    if "metadata" in values:
        check_field("metadata", values["metadata"], validate_metadata)
    for name, choices in (
        ("type", TicketType.values),
        ("impact", Impact.values),
        ("urgency", Urgency.values),
    ):
        if name in values:
            check_choice(values[name], choices, name)
    if "priority" in values:
        check_priority_override(values["priority"], values.get("priority_reason"))
    elif "priority_reason" in values:
        raise ValidationError({"priority_reason": "Give the priority it explains."})
    if "assignee" in values:
        check_assignee(values["assignee"])
    if "resolution" in values and "status" not in values:
        raise ValidationError({"resolution": "A resolution goes with a move to resolved."})


@transaction.atomic
def do_edit_ticket(
    ticket: Ticket,
    changes: TicketChanges,
    *,
    actor: User | None,
    reason: str = "",
    expected_version: int | None = None,
    actor_label: str = "",
    check_permission: bool = True,
) -> list[str]:
    """Apply ``changes`` as one edit: one row lock, one version check (``StaleTicket`` when
    ``expected_version`` is not the ticket's), one UPDATE (one version bump, one audit row with
    one context), then ``ticket_status_changed``, ``ticket_priority_changed`` and
    ``ticket_assigned`` for what they describe, each once, and one ``ticket_updated``.

    Returns the names of the fields that changed (as ``ticket_updated`` tells them). Every
    ticket edit goes through here, so each rule of a change is checked in one place.
    ``check_permission=False`` is for callers that checked a narrower right themselves (a
    requester reopening their own ticket, a requester's reply that reopens it).
    """
    if check_permission:
        check_can_change(ticket, actor)
    check_changes(changes)
    caller, ticket = ticket, _locked(ticket)
    if expected_version is not None and ticket.version != expected_version:
        raise StaleTicket(ticket, expected_version)
    if "status" in changes:
        check_release(ticket, changes["status"])
    values: dict[str, Any] = dict(changes)
    previous_status, previous_priority = ticket.status, ticket.priority
    previous_assignee, previous_team = (
        (ticket.assignee, ticket.team) if {"assignee", "team"} & set(values) else (None, None)
    )
    plain = {name: values[name] for name in PLAIN_FIELDS if name in values}
    if "tags" in plain:
        plain["tags"] = normalise_tags(plain["tags"])
    people = {name: values[name] for name in ("assignee", "team") if name in values}
    if people.get("assignee") is not None and "team" not in people and ticket.team_id is None:
        # An agent given a ticket without a team brings their (first) team along.
        people["team"] = people["assignee"].teams.order_by("name").first()
    fields = ticket.stage_fields(plain)
    if "impact" in values or "urgency" in values:
        fields += ticket.stage_impact_urgency(
            impact=values.get("impact", ticket.impact), urgency=values.get("urgency", ticket.urgency)
        )
    if "priority" in values:
        fields += ticket.stage_priority(values["priority"], reason=values.get("priority_reason", ""))
    fields += ticket.stage_fields(people)
    if "status" in values:
        fields += ticket.stage_transition(values["status"], resolution=values.get("resolution", ""))
    if not fields:
        _adopt(caller, ticket)
        return []
    if not reason:
        if "priority" in fields and ticket.priority_overridden:
            reason = ticket.priority_reason
        elif {"impact", "urgency"} & set(fields):
            reason = f"impact {ticket.impact} × urgency {ticket.urgency}"
    ticket.write_changes(
        list(dict.fromkeys(fields)),
        actor=actor,
        reason=reason,
        expected_version=expected_version,
        actor_label=actor_label,
    )
    _adopt(caller, ticket)
    changed = [name for name in dict.fromkeys(fields) if name in REPORTED_FIELDS]
    who = {"sender": Ticket, "ticket": ticket, "actor": actor, "actor_label": actor_label}
    if "status" in changed:
        signals.ticket_status_changed.send(**who, previous=previous_status, status=ticket.status)
    if "priority" in changed:
        signals.ticket_priority_changed.send(**who, previous=previous_priority, priority=ticket.priority)
    if "assignee" in changed or "team" in changed:
        signals.ticket_assigned.send(**who, previous_assignee=previous_assignee, previous_team=previous_team)
    if changed:
        signals.ticket_updated.send(**who, changed=changed)
    return changed


# --- single changes: the pages' forms, the API's actions, automation ---------------------------
def do_transition_ticket(
    ticket: Ticket,
    to: str,
    *,
    actor: User | None,
    resolution: str = "",
    reason: str = "",
    expected_version: int | None = None,
    actor_label: str = "",
    check_permission: bool = True,
) -> Ticket:
    """Move a ticket through the status machine (raises IllegalTransition / StaleTicket)."""
    changes: TicketChanges = {"status": to}
    if resolution:
        changes["resolution"] = resolution
    do_edit_ticket(
        ticket,
        changes,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
        actor_label=actor_label,
        check_permission=check_permission,
    )
    return ticket


@transaction.atomic
def do_reopen_ticket(ticket: Ticket, *, actor: User, reason: str = "") -> Ticket:
    """Reopen a resolved ticket: requesters their own, agents any they can change."""
    if ticket.status != TicketStatus.RESOLVED:
        raise IllegalTransition(
            ticket.status,
            TicketStatus.OPEN,
            TRANSITIONS[ticket.status],
            "Only a resolved ticket can be reopened.",
        )
    if actor.is_requester:
        if ticket.requester_id != actor.pk:
            raise PermissionDenied("You may only reopen your own tickets.")
        return do_transition_ticket(
            ticket, TicketStatus.OPEN, actor=actor, reason=reason, check_permission=False
        )
    return do_transition_ticket(ticket, TicketStatus.OPEN, actor=actor, reason=reason)


def do_assign_ticket(
    ticket: Ticket,
    *,
    actor: User | None,
    assignee: User | None,
    team: Team | None = None,
    expected_version: int | None = None,
    reason: str = "",
    actor_label: str = "",
) -> Ticket:
    """Set the assignee (None unassigns) and, when given, the team (None keeps it)."""
    changes: TicketChanges = {"assignee": assignee}
    if team is not None:
        changes["team"] = team
    do_edit_ticket(
        ticket,
        changes,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
        actor_label=actor_label,
    )
    return ticket


def do_change_priority(
    ticket: Ticket,
    *,
    actor: User | None,
    priority: str,
    reason: str,
    expected_version: int | None = None,
    actor_label: str = "",
) -> Ticket:
    """Override the matrix priority with a reason (the error names the reason ``reason``)."""
    check_can_change(ticket, actor)
    check_priority_override(priority, reason, reason_field="reason")
    do_edit_ticket(
        ticket,
        {"priority": priority, "priority_reason": reason},
        actor=actor,
        expected_version=expected_version,
        actor_label=actor_label,
        check_permission=False,  # checked above, before the reason
    )
    return ticket


EDITABLE_FIELDS = {*PLAIN_FIELDS, "impact", "urgency"}


def do_update_ticket(
    ticket: Ticket,
    *,
    actor: User | None,
    fields: dict[str, Any],
    expected_version: int | None = None,
    actor_label: str = "",
) -> list[str]:
    """Edit plain fields; impact/urgency re-derive the priority unless it was overridden."""
    check_can_change(ticket, actor)
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be edited here." for name in unknown})
    return do_edit_ticket(
        ticket,
        TicketChanges(**fields),
        actor=actor,
        expected_version=expected_version,
        actor_label=actor_label,
        check_permission=False,  # checked above, before the field names
    )


@transaction.atomic
def do_archive_ticket(
    ticket: Ticket, *, actor: User | None, reason: str = "", actor_label: str = ""
) -> Ticket:
    """Tickets are archived, never deleted (a database trigger refuses DELETE)."""
    check_can_change(ticket, actor)
    caller, ticket = ticket, _locked(ticket)
    if ticket.archive(actor=actor, reason=reason, actor_label=actor_label):
        _adopt(caller, ticket)
        signals.ticket_updated.send(
            sender=Ticket, ticket=ticket, actor=actor, actor_label=actor_label, changed=["archived"]
        )
    return ticket


@transaction.atomic
def do_unarchive_ticket(
    ticket: Ticket, *, actor: User | None, reason: str = "", actor_label: str = ""
) -> Ticket:
    check_can_change(ticket, actor)
    caller, ticket = ticket, _locked(ticket)
    if ticket.unarchive(actor=actor, reason=reason, actor_label=actor_label):
        _adopt(caller, ticket)
        signals.ticket_updated.send(
            sender=Ticket, ticket=ticket, actor=actor, actor_label=actor_label, changed=["archived"]
        )
    return ticket


def normalise_tags(tags: Iterable[str] | str) -> list[str]:
    """Tags lower-cased, without blanks or repeats; a tag over the limit is refused, not cut."""
    if isinstance(tags, str):
        tags = tags.split(",")
    seen: list[str] = []
    for tag in tags:
        tag = str(tag).strip().lower()
        check_field("tags", tag, validate_tag)
        if tag and tag not in seen:
            seen.append(tag)
    return seen


def check_field(name: str, value: Any, validator: Callable[[Any], None]) -> None:
    """Run one of ``tickets.validation``'s validators, naming the field in the error."""
    try:
        validator(value)
    except ValidationError as error:
        raise ValidationError({name: error.messages}) from None
