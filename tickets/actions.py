"""Workflows across models: pages, API, tasks, admin and commands all call these.

Each ``do_*`` validates what it must, writes inside one transaction, records the audit
context, and sends the signals of ``tickets.signals``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tickets import signals
from tickets.models import (
    AccessChannel,
    Attachment,
    Channel,
    Comment,
    CommentSource,
    IllegalTransition,
    RelationKind,
    SensitiveAccess,
    StaleTicket,
    Ticket,
    TicketRelation,
    TicketStatus,
    TicketType,
    Watcher,
)
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


def check_can_comment(ticket: Ticket, actor: User | None, *, internal: bool) -> None:
    if actor is None:
        return
    if not ticket.is_visible_to(actor) or not actor.can_write():
        raise PermissionDenied("You may not comment on this ticket.")
    if internal and not actor.is_agent:
        raise PermissionDenied("Only agents write internal notes.")


def check_attachment(upload: UploadedFile) -> None:
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            {
                "attachments": (
                    f"{upload.name} is {upload.size} bytes; the limit is {settings.ATTACHMENT_MAX_BYTES} bytes."
                )
            }
        )
    content_type = (upload.content_type or "application/octet-stream").split(";")[0].strip().lower()
    if content_type not in settings.ATTACHMENT_ALLOWED_TYPES:
        raise ValidationError(
            {"attachments": f"{upload.name}: files of type {content_type} are not accepted."}
        )


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


def do_record_sensitive_view(
    ticket: Ticket, user: User, *, channel: str = AccessChannel.WEB
) -> SensitiveAccess | None:
    """Every view of a sensitive ticket leaves an append-only row; other tickets leave none.

    Call it from every place that shows a ticket's content: the detail page, the API, the admin.
    """
    if not ticket.sensitive:
        return None
    check_choice(channel, AccessChannel.values, "channel")
    return SensitiveAccess.objects.create(
        ticket=ticket,
        user=user if user.is_authenticated else None,
        user_email=getattr(user, "email", "") or "anonymous",
        channel=channel,
    )


# --- conversation ----------------------------------------------------------------------------
@transaction.atomic
def do_add_comment(
    ticket: Ticket,
    *,
    actor: User | None,
    body: str,
    internal: bool = False,
    source: str = CommentSource.WEB,
    external_id: str = "",
    author_label: str = "",
    attachments: Iterable[UploadedFile] = (),
    created_at: Any = None,
) -> Comment:
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "The message is empty."})
    check_can_comment(ticket, actor, internal=internal)
    uploads = list(attachments)
    for upload in uploads:
        check_attachment(upload)
    now = created_at or timezone.now()
    comment = Comment.objects.create(
        ticket=ticket,
        author=actor,
        author_label=author_label,
        body=body,
        internal=internal,
        source=source,
        external_id=external_id,
        created_at=now,
        updated_at=now,
    )
    for upload in uploads:
        store_attachment(ticket, upload, uploaded_by=actor, comment=comment)
    if not internal and actor is not None and actor.is_agent and ticket.requester_id != actor.pk:
        # The first public reply of an agent is the first response (SLA response clock).
        ticket.mark_first_response(now)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=now)
    signals.comment_added.send(
        sender=Ticket, ticket=ticket, actor=actor, actor_label=author_label, comment=comment
    )
    if (
        actor is not None
        and not internal
        and actor.pk == ticket.requester_id
        # The row, not the caller's instance: it may predate a status change.
        and Ticket.objects.filter(pk=ticket.pk, status=TicketStatus.PENDING_CUSTOMER).exists()
    ):
        # The customer answered: the ticket is back with the desk (and its SLA clocks resume).
        do_transition_ticket(
            ticket, TicketStatus.OPEN, actor=actor, reason="requester replied", check_permission=False
        )
    return comment


def do_edit_comment(
    comment: Comment, *, actor: User | None, body: str, internal: bool | None = None, actor_label: str = ""
) -> Comment:
    """Change what a comment says (and whether it is an internal note); the conversation keeps
    its place in time, ``updated_at`` marks it edited. People edit only their own comments;
    automation (``actor=None``: a Jira comment edited in Jira) may edit the one it mirrors."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "The message is empty."})
    internal = comment.internal if internal is None else internal
    if actor is not None and comment.author_id != actor.pk:
        raise PermissionDenied("You may only edit your own comments.")
    if actor is not None and comment.ticket.status in (TicketStatus.CLOSED, TicketStatus.CANCELLED):
        # Final tickets keep their conversation as it was (a mirrored Jira edit still applies).
        raise ValidationError({"body": "The ticket is closed: its conversation can no longer be edited."})
    check_can_comment(comment.ticket, actor, internal=internal)
    if body == comment.body and internal == comment.internal:
        return comment
    previous_body, previous_internal = comment.body, comment.internal
    comment.body, comment.internal, comment.updated_at = body, internal, timezone.now()
    with audited(actor, reason="comment edited", actor_label=actor_label):
        comment.save(update_fields=["body", "internal", "updated_at"])  # the old text → CommentRevision
    Ticket.objects.filter(pk=comment.ticket_id).update(updated_at=comment.updated_at)
    signals.comment_edited.send(
        sender=Ticket,
        ticket=comment.ticket,
        actor=actor,
        actor_label=actor_label,
        comment=comment,
        previous_body=previous_body,
        previous_internal=previous_internal,
    )
    return comment


def store_attachment(
    ticket: Ticket, upload: UploadedFile, *, uploaded_by: User | None, comment: Comment | None = None
) -> Attachment:
    check_attachment(upload)
    return Attachment.objects.create(
        ticket=ticket,
        comment=comment,
        file=upload,
        filename=upload.name[:255],
        content_type=(upload.content_type or "application/octet-stream").split(";")[0],
        size=upload.size,
        uploaded_by=uploaded_by,
    )


def do_watch_ticket(ticket: Ticket, *, user: User) -> bool:
    if not ticket.is_visible_to(user):
        raise PermissionDenied("You may not watch this ticket.")
    _watcher, created = Watcher.objects.get_or_create(ticket=ticket, user=user)
    return created


def do_unwatch_ticket(ticket: Ticket, *, user: User) -> bool:
    deleted, _ = Watcher.objects.filter(ticket=ticket, user=user).delete()
    return bool(deleted)


# --- relations -----------------------------------------------------------------------------
@transaction.atomic
def do_add_relation(
    ticket: Ticket,
    *,
    target: Ticket,
    kind: str,
    actor: User | None,
    close_duplicate: bool = False,
) -> TicketRelation:
    check_can_change(ticket, actor)
    check_choice(kind, RelationKind.values, "kind")
    if target.pk == ticket.pk:
        raise ValidationError({"target": "A ticket cannot be linked to itself."})
    if actor is not None and not target.is_visible_to(actor):
        raise ValidationError({"target": "No such ticket."})
    if close_duplicate and kind != RelationKind.DUPLICATE_OF:
        raise ValidationError({"close_duplicate": "Only a duplicate_of link can close the ticket."})
    # The same fact stated from the other side is a duplicate too (B child_of A = A parent_of B),
    # and two tickets cannot each be the duplicate of the other.
    inverse = INVERSE_KINDS[kind]
    if TicketRelation.objects.filter(source=target, target=ticket, kind=inverse).exists():
        raise ValidationError({"target": f"{target.number} is already {inverse} {ticket.number}."})
    try:
        with transaction.atomic():
            relation = TicketRelation.objects.create(
                source=ticket, target=target, kind=kind, created_by=actor
            )
    except IntegrityError as error:
        raise ValidationError({"target": f"{ticket.number} is already {kind} {target.number}."}) from error
    signals.relation_added.send(sender=Ticket, ticket=ticket, actor=actor, actor_label="", relation=relation)
    if close_duplicate:
        ticket.refresh_from_db()
        why = f"duplicate of {target.number}"
        if ticket.can_transition_to(TicketStatus.RESOLVED):
            ticket = do_transition_ticket(
                ticket,
                TicketStatus.RESOLVED,
                actor=actor,
                resolution=f"Duplicate of {target.number}.",
                reason=why,
            )
        if ticket.can_transition_to(TicketStatus.CLOSED):
            do_transition_ticket(ticket, TicketStatus.CLOSED, actor=actor, reason=why)
    return relation


INVERSE_KINDS = {
    RelationKind.DUPLICATE_OF: RelationKind.DUPLICATE_OF,
    RelationKind.RELATED: RelationKind.RELATED,
    RelationKind.PARENT_OF: RelationKind.CHILD_OF,
    RelationKind.CHILD_OF: RelationKind.PARENT_OF,
    RelationKind.CAUSED_BY: RelationKind.CAUSED_BY,
}


@transaction.atomic
def do_remove_relation(relation: TicketRelation, *, actor: User | None) -> None:
    check_can_change(relation.source, actor)
    relation.delete()


def normalise_tags(tags: Iterable[str] | str) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    seen: list[str] = []
    for tag in tags:
        tag = str(tag).strip().lower()[:50]
        if tag and tag not in seen:
            seen.append(tag)
    return seen


# --- bulk ----------------------------------------------------------------------------------
class BulkAction:
    ASSIGN = "assign"
    STATUS = "status"
    PRIORITY = "priority"
    TAG = "tag"
    CLOSE = "close"
    ALL = (ASSIGN, STATUS, PRIORITY, TAG, CLOSE)


BULK_MAX_TICKETS = 500


class BulkActionError(Exception):
    """Some tickets of a bulk action could not be changed; nothing was changed."""

    def __init__(self, errors: dict[int, str]) -> None:
        self.errors = errors
        ids = ", ".join(str(pk) for pk in sorted(errors))
        super().__init__(f"Nothing was changed: {len(errors)} ticket(s) refused the action ({ids}).")


@transaction.atomic
def do_bulk_action(
    ticket_ids: Iterable[int],
    *,
    actor: User,
    action: str,
    assignee: User | None = None,
    team: Team | None = None,
    status: str = "",
    resolution: str = "",
    reason: str = "",
    priority: str = "",
    tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
    unassign: bool = False,
) -> list[Ticket]:
    """Apply one action to many tickets, all or nothing.

    Every ticket is tried (each in its own savepoint) so the error names every refused id;
    if any is refused, the whole transaction rolls back and ``BulkActionError`` says why per id.
    A ticket already in the requested state is left alone, so a retried bulk action is harmless.
    ``assign`` sets ``assignee`` and/or ``team`` (what is not given is kept); ``unassign=True``
    removes the assignee instead.
    """
    check_choice(action, BulkAction.ALL, "action")
    ids = list(dict.fromkeys(int(pk) for pk in ticket_ids))
    if not ids:
        raise ValidationError({"ids": "Select at least one ticket."})
    if len(ids) > BULK_MAX_TICKETS:
        raise ValidationError({"ids": f"At most {BULK_MAX_TICKETS} tickets at once."})
    if action == BulkAction.STATUS:
        check_choice(status, TicketStatus.values, "status")
    if action == BulkAction.PRIORITY:
        check_choice(priority, Priority.values, "priority")
        if not (reason or "").strip():
            raise ValidationError({"reason": "Overriding the priority needs a reason."})
    add, remove = normalise_tags(tags), normalise_tags(remove_tags)
    if action == BulkAction.TAG and not (add or remove):
        raise ValidationError({"tags": "Give tags to add or to remove."})
    if assignee is not None and not assignee.is_agent:
        raise ValidationError({"assignee": f"{assignee.email} is not an agent."})
    if action == BulkAction.ASSIGN and assignee is None and team is None and not unassign:
        raise ValidationError({"assignee": "Give an agent, a team, or unassign."})
    if unassign and assignee is not None:
        raise ValidationError({"assignee": "Either an agent or unassign, not both."})
    # Lock in id order: two bulk actions over overlapping tickets then queue instead of deadlocking.
    tickets = list(
        Ticket.objects.visible_to(actor).filter(pk__in=ids).order_by("pk").select_for_update(of=("self",))
    )
    found = {ticket.pk for ticket in tickets}
    errors: dict[int, str] = {pk: "No such ticket." for pk in ids if pk not in found}
    changed: list[Ticket] = []
    for ticket in tickets:
        try:
            with transaction.atomic():
                result = _apply_bulk(
                    ticket,
                    actor=actor,
                    action=action,
                    assignee=assignee,
                    team=team,
                    status=status,
                    resolution=resolution,
                    reason=reason,
                    priority=priority,
                    add=add,
                    remove=remove,
                    unassign=unassign,
                )
        except IllegalTransition as error:
            errors[ticket.pk] = f"{ticket.number}: {error.message}"
        except (ValidationError, PermissionDenied, StaleTicket) as error:
            message = "; ".join(getattr(error, "messages", None) or [str(error)])
            errors[ticket.pk] = f"{ticket.number}: {message}"
        else:
            changed.append(result)
    if errors:
        raise BulkActionError(errors)
    return changed


def _apply_bulk(
    ticket: Ticket,
    *,
    actor: User,
    action: str,
    assignee: User | None,
    team: Team | None,
    status: str,
    resolution: str,
    reason: str,
    priority: str,
    add: list[str],
    remove: list[str],
    unassign: bool,
) -> Ticket:
    if action == BulkAction.ASSIGN:
        if assignee is None and not unassign:
            assignee = ticket.assignee
        return do_assign_ticket(ticket, actor=actor, assignee=assignee, team=team, reason=reason)
    if action == BulkAction.STATUS:
        if ticket.status == status:
            return ticket
        return do_transition_ticket(ticket, status, actor=actor, resolution=resolution, reason=reason)
    if action == BulkAction.PRIORITY:
        if ticket.priority == priority and ticket.priority_overridden:
            return ticket
        return do_change_priority(ticket, actor=actor, priority=priority, reason=reason)
    if action == BulkAction.TAG:
        tags = [tag for tag in ticket.tags if tag not in remove] + [
            tag for tag in add if tag not in ticket.tags
        ]
        if tags != ticket.tags:
            do_update_ticket(ticket, actor=actor, fields={"tags": tags})
            ticket.refresh_from_db()
        return ticket
    # close: resolve first when needed (with the given resolution), then close.
    if ticket.status == TicketStatus.CLOSED:
        return ticket
    if ticket.status != TicketStatus.RESOLVED:
        ticket = do_transition_ticket(
            ticket, TicketStatus.RESOLVED, actor=actor, resolution=resolution, reason=reason
        )
    return do_transition_ticket(ticket, TicketStatus.CLOSED, actor=actor, reason=reason)


# --- exports -----------------------------------------------------------------------------------
# Rows fetched per round trip while streaming an export (a server-side cursor): memory stays flat.
EXPORT_CHUNK_SIZE = 2000
EXPORT_EXTRA_PARAMETERS = {"sort"}


def export_filterset(actor: User, filters: dict[str, list[str]]) -> Any:
    """The queue's ``TicketFilter`` over what ``actor`` may see, fed with stored filters."""
    from types import SimpleNamespace

    from django.http import QueryDict

    from tickets.filters import TicketFilter

    data = QueryDict(mutable=True)
    for key, values in filters.items():
        data.setlist(key, [str(value) for value in values])
    return TicketFilter(
        data=data, queryset=Ticket.objects.visible_to(actor), request=SimpleNamespace(user=actor)
    )


def check_export_filters(actor: User, filters: dict[str, list[str]]) -> None:
    from tickets import extensions
    from tickets.filters import SORTS, TicketFilter

    known = set(TicketFilter.base_filters) | set(extensions.queue_filters) | EXPORT_EXTRA_PARAMETERS
    unknown = sorted(set(filters) - known)
    if unknown:
        raise ValidationError(
            {"filters": f"Unknown filter(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."}
        )
    sort = (filters.get("sort") or [""])[0].lstrip("-")
    if sort and sort not in set(SORTS) | set(extensions.queue_sorts):
        raise ValidationError({"filters": f"Unknown sort {sort!r}."})
    filterset = export_filterset(actor, filters)
    if not filterset.is_valid():
        raise ValidationError(
            {"filters": [f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items()]}
        )


@transaction.atomic
def do_request_export(
    *, actor: User, format: str = "csv", filters: dict[str, list[str]] | None = None
) -> Any:
    """Record an export and queue its build in the same transaction (no job without its row)."""
    from tickets.models import ExportFormat, ExportJob
    from tickets.tasks import build_export

    if not actor.can_write():
        raise PermissionDenied("Viewers cannot start exports.")
    check_choice(format, ExportFormat.values, "format")
    filters = {key: list(values) for key, values in (filters or {}).items()}
    check_export_filters(actor, filters)
    job = ExportJob.objects.create(requested_by=actor, format=format, filters=filters)
    build_export.configure(queueing_lock=f"export-{job.pk}", lock=f"export-{job.pk}").defer(export_id=job.pk)
    return job


def do_build_export(export_id: int) -> Any:
    """Build one export file, streaming rows from a server-side cursor to a temporary file.

    Idempotent: a ready or failed job is left alone; a ``running`` one (its worker died) is
    built again. Returns the job, or None when there was nothing to do.
    """
    import io
    import secrets
    import tempfile

    from django.core.files import File
    from django.core.files.storage import default_storage

    from tickets.filters import sort_tickets
    from tickets.models import ExportJob, ExportStatus
    from tickets.models.exports import EXPORT_COLUMNS, write_export

    claimed = ExportJob.objects.filter(
        pk=export_id, status__in=[ExportStatus.PENDING, ExportStatus.RUNNING]
    ).update(status=ExportStatus.RUNNING, error="")
    if not claimed:
        return None
    job = ExportJob.objects.select_related("requested_by").get(pk=export_id)
    try:
        filterset = export_filterset(job.requested_by, job.filters)
        if not filterset.is_valid():
            raise ValidationError(f"Bad filters: {dict(filterset.errors)}")
        search = (job.filters.get("search") or [""])[0].strip()
        queryset = sort_tickets(filterset.qs, (job.filters.get("sort") or [""])[0], searching=bool(search))
        # An export shows sensitive tickets too: each one is a view to record.
        user = job.requested_by
        SensitiveAccess.objects.bulk_create(
            (
                SensitiveAccess(ticket_id=pk, user=user, user_email=user.email, channel=AccessChannel.EXPORT)
                for pk in queryset.filter(sensitive=True).values_list("pk", flat=True)
            ),
            batch_size=1000,
        )
        rows = queryset.values_list(*[lookup for _header, lookup in EXPORT_COLUMNS]).iterator(
            chunk_size=EXPORT_CHUNK_SIZE
        )
        with tempfile.TemporaryFile() as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            count = write_export(rows, job.format, text)
            text.flush()
            text.detach()
            raw.seek(0)
            name = default_storage.save(
                f"exports/tickets-{job.pk}-{secrets.token_hex(8)}.{job.format}", File(raw)
            )
    except Exception as error:
        # Marking the job failed needs the database; if that is what is down, this raises
        # too and procrastinate retries the task (the job is still ``running``, so it is rebuilt).
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.READY, file=name, row_count=count, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job
