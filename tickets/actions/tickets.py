"""Tickets: create, edit, move through the status machine, assign, prioritise, archive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from tickets import signals
from tickets.actions.attachments import check_attachment, store_attachment
from tickets.models import Channel, IllegalTransition, Ticket, TicketStatus, TicketType, Watcher
from tickets.models.priority import Impact, Priority, Urgency
from tickets.models.ticket import TRANSITIONS, audited

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


# --- tickets ------------------------------------------------------------------------------
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
) -> Ticket:
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "A title is required."})
    check_choice(type, TicketType.values, "type")
    check_choice(impact, Impact.values, "impact")
    check_choice(urgency, Urgency.values, "urgency")
    if priority is not None:
        check_choice(priority, Priority.values, "priority")
    requester = requester or actor
    if requester is None:
        raise ValidationError({"requester": "A requester is required."})
    if actor is not None and not actor.is_agent and requester != actor:
        raise PermissionDenied("Requesters open tickets for themselves.")
    if actor is not None and actor.is_viewer:
        raise PermissionDenied("Viewers cannot open tickets.")
    if assignee is not None and not assignee.is_agent:
        raise ValidationError({"assignee": f"{assignee.email} is not an agent."})
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
        ticket.priority = priority
        ticket.priority_overridden = True
        ticket.priority_reason = priority_reason or "set at creation"
    with audited(actor, ticket.priority_reason, actor_label):
        ticket.save()
    Watcher.objects.get_or_create(ticket=ticket, user=requester)
    for upload in uploads:
        store_attachment(ticket, upload, uploaded_by=actor)
    signals.ticket_created.send(sender=Ticket, ticket=ticket, actor=actor, actor_label=actor_label)
    return ticket


@transaction.atomic
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
    if check_permission:
        check_can_change(ticket, actor)
    caller, ticket = ticket, _locked(ticket)
    previous = ticket.transition_to(
        to,
        actor=actor,
        reason=reason,
        resolution=resolution,
        expected_version=expected_version,
        actor_label=actor_label,
    )
    _adopt(caller, ticket)
    signals.ticket_status_changed.send(
        sender=Ticket, ticket=ticket, actor=actor, actor_label=actor_label, previous=previous, status=to
    )
    signals.ticket_updated.send(
        sender=Ticket, ticket=ticket, actor=actor, actor_label=actor_label, changed=["status"]
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


@transaction.atomic
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
    check_can_change(ticket, actor)
    if assignee is not None and not assignee.is_agent:
        raise ValidationError({"assignee": f"{assignee.email} is not an agent."})
    caller, ticket = ticket, _locked(ticket)
    previous_assignee, previous_team = ticket.assignee, ticket.team
    if team is None and assignee is not None and ticket.team_id is None:
        team = assignee.teams.order_by("name").first()
    ticket.assign(
        to=assignee,
        team=team,
        actor=actor,
        expected_version=expected_version,
        reason=reason,
        actor_label=actor_label,
    )
    _adopt(caller, ticket)
    changed = [
        name
        for name, before in (("assignee", previous_assignee), ("team", previous_team))
        if getattr(ticket, name) != before
    ]
    if changed:
        signals.ticket_assigned.send(
            sender=Ticket,
            ticket=ticket,
            actor=actor,
            actor_label=actor_label,
            previous_assignee=previous_assignee,
            previous_team=previous_team,
        )
        signals.ticket_updated.send(
            sender=Ticket, ticket=ticket, actor=actor, actor_label=actor_label, changed=changed
        )
    return ticket


@transaction.atomic
def do_change_priority(
    ticket: Ticket,
    *,
    actor: User | None,
    priority: str,
    reason: str,
    expected_version: int | None = None,
    actor_label: str = "",
) -> Ticket:
    check_can_change(ticket, actor)
    check_choice(priority, Priority.values, "priority")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Overriding the priority needs a reason."})
    caller, ticket = ticket, _locked(ticket)
    previous = ticket.priority
    ticket.set_priority(
        priority, actor=actor, reason=reason, expected_version=expected_version, actor_label=actor_label
    )
    _adopt(caller, ticket)
    if previous != priority:
        signals.ticket_priority_changed.send(
            sender=Ticket,
            ticket=ticket,
            actor=actor,
            actor_label=actor_label,
            previous=previous,
            priority=priority,
        )
        signals.ticket_updated.send(
            sender=Ticket, ticket=ticket, actor=actor, actor_label=actor_label, changed=["priority"]
        )
    return ticket


EDITABLE_FIELDS = {
    "title",
    "description",
    "category",
    "service",
    "tags",
    "sensitive",
    "linked_entity_type",
    "linked_entity_id",
    "metadata",
    "type",
    "impact",
    "urgency",
}


@transaction.atomic
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
    if "title" in fields and not str(fields["title"]).strip():
        raise ValidationError({"title": "A title is required."})
    for name, choices in (
        ("type", TicketType.values),
        ("impact", Impact.values),
        ("urgency", Urgency.values),
    ):
        if name in fields:
            check_choice(fields[name], choices, name)
    if "tags" in fields:
        fields = {**fields, "tags": normalise_tags(fields["tags"])}
    caller, ticket = ticket, _locked(ticket)
    previous_priority = ticket.priority
    impact_urgency = {k: fields.pop(k) for k in ("impact", "urgency") if k in fields}
    changed = ticket.update_fields(
        fields, actor=actor, expected_version=expected_version, actor_label=actor_label
    )
    if impact_urgency and (
        impact_urgency.get("impact", ticket.impact),
        impact_urgency.get("urgency", ticket.urgency),
    ) != (ticket.impact, ticket.urgency):
        ticket.set_impact_urgency(
            impact=impact_urgency.get("impact", ticket.impact),
            urgency=impact_urgency.get("urgency", ticket.urgency),
            actor=actor,
            expected_version=None if changed else expected_version,
            actor_label=actor_label,
        )
        changed += list(impact_urgency)
    _adopt(caller, ticket)
    if ticket.priority != previous_priority:
        changed.append("priority")
        signals.ticket_priority_changed.send(
            sender=Ticket,
            ticket=ticket,
            actor=actor,
            actor_label=actor_label,
            previous=previous_priority,
            priority=ticket.priority,
        )
    if changed:
        signals.ticket_updated.send(
            sender=Ticket, ticket=ticket, actor=actor, actor_label=actor_label, changed=changed
        )
    return changed


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
    if isinstance(tags, str):
        tags = tags.split(",")
    seen: list[str] = []
    for tag in tags:
        tag = str(tag).strip().lower()[:50]
        if tag and tag not in seen:
            seen.append(tag)
    return seen
