"""Inbound Jira, the worker: apply a stored delivery (or a reconciled issue) to tickets.

Applying is idempotent and order-safe: every issue is handled under a PostgreSQL advisory
lock on its id; a delivery older than the ``updated`` already applied is ignored; only the
Jira-side values that differ from the link's snapshot are applied (so our own pushes echoed
back, and redeliveries, change nothing); Jira ids are unique keys for links and comments.
All ticket writes go through ``tickets.actions`` with ``actor_label="system:jira"``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from integrations.jira.mapper import (
    Account,
    IssueView,
    Mappings,
    field_text,
    is_internal_comment,
    parse_jira_datetime,
    rich_to_text,
    text_hash,
    ticket_values,
)
from integrations.jira.models import (
    AccountMapping,
    ChangeKind,
    JiraComment,
    JiraLink,
    Origin,
    OutboundChange,
    ReceiptState,
    WebhookReceipt,
    stable_hash,
)
from integrations.jira.signals import delivery_processed
from integrations.jira.sla_sync import apply_issue_sla_fields
from integrations.jira.transport import JiraBadRequest, JiraError, JiraNotFound
from itsm.models import AutomationEvent, Role, User
from tickets.actions import (
    TicketChanges,
    do_add_comment,
    do_archive_ticket,
    do_create_ticket,
    do_edit_comment,
    do_edit_ticket,
    do_transition_ticket,
    normalise_tags,
)
from tickets.models import Channel, Comment, CommentSource, Ticket, TicketStatus, TicketType
from tickets.validation import COMMENT_MAX_LENGTH, fit_text

logger = logging.getLogger(__name__)

ACTOR = "system:jira"
ISSUE_EVENTS = {"jira:issue_created", "jira:issue_updated"}
DELETE_EVENT = "jira:issue_deleted"
COMMENT_EVENTS = {"comment_created", "comment_updated", "comment_deleted"}
HANDLED_EVENTS = ISSUE_EVENTS | {DELETE_EVENT} | COMMENT_EVENTS


@dataclass
class Outcome:
    result: str  # created | updated | unchanged | stale | ignored | deleted | listeners
    ticket: Ticket | None = None
    changes: list[str] = field(default_factory=list)
    detail: str = ""

    def describe(self) -> str:
        parts = [self.result]
        if self.ticket is not None:
            parts.append(self.ticket.number)
        if self.changes:
            parts.append("changed " + ", ".join(self.changes))
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if len(parts) > 2 else "")


def lock_issue(issue_id: str) -> None:
    """Serialise everything touching one issue (webhooks, reconcile, push), until commit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"jira-issue:{issue_id}"])


def record(
    ticket: Ticket, action: str, *, before: dict | None = None, after: dict | None = None, reason: str = ""
) -> None:
    AutomationEvent.objects.record(
        actor=ACTOR, action=action, subject=ticket, before=before, after=after, reason=reason
    )


def integration_requester() -> User:
    """The local requester of issues whose reporter matches no local user."""
    email = settings.JIRA_REQUESTER_EMAIL.lower()
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return User.objects.create_user(
                email=email, password=None, full_name="Jira requester", role=Role.USER
            )
    except IntegrityError:
        return User.objects.get(email=email)


def user_for(account: Account | None) -> User | None:
    if account is None or not account.account_id:
        return None
    mapping = AccountMapping.objects.select_related("user").filter(account_id=account.account_id).first()
    if mapping is not None and mapping.user.is_active:
        return mapping.user
    if account.email:
        return User.objects.filter(email__iexact=account.email, is_active=True).first()
    return None


def requester_for(account: Account | None) -> User:
    return user_for(account) or integration_requester()


def jira_metadata(view: IssueView, previous: dict | None = None) -> dict[str, Any]:
    data = dict(previous or {})
    data.update({"key": view.key, "id": view.id, "project": view.project_key})
    if settings.JIRA_BASE_URL:
        data["url"] = f"{settings.JIRA_BASE_URL}/browse/{view.key}"
    if view.reporter is not None:
        data["reporter"] = view.reporter.display_name
    mappings = Mappings.current()
    fields = dict(data.get("fields") or {})
    for jira_field in mappings.metadata_fields:
        if jira_field in view.present:
            fields[jira_field] = field_text(view.fields.get(jira_field))
    if fields:
        data["fields"] = fields
    return data


def find_link(view: IssueView) -> JiraLink | None:
    """The link of this issue: by id; by our marker label (an issue we created whose answer
    we have not stored yet); or a ticket already carrying the key."""
    link = JiraLink.objects.select_for_update().filter(issue_id=view.id).first()
    if link is not None:
        if link.issue_key != view.key:
            # The issue moved (new key): follow it. Tickets keep their original external key.
            JiraLink.objects.filter(issue_key=view.key).exclude(pk=link.pk).update(issue_key=None)
            link.issue_key = view.key
            link.save(update_fields=["issue_key"])
        return link
    candidates = list(Ticket.objects.filter(number__in=view.marker_numbers)) if view.marker_numbers else []
    candidates += list(Ticket.objects.filter(external_key=view.key)[:1])
    for ticket in candidates:
        link = JiraLink.objects.select_for_update().filter(ticket=ticket).first()
        if link is None:
            link = JiraLink.objects.create(ticket=ticket, origin=Origin.LOCAL, project_key=view.project_key)
        if link.issue_id in (None, view.id):
            JiraLink.objects.filter(issue_key=view.key).exclude(pk=link.pk).update(issue_key=None)
            link.issue_id, link.issue_key, link.project_key = view.id, view.key, view.project_key
            link.save(update_fields=["issue_id", "issue_key", "project_key"])
            return link
    return None


def has_pending_transition(ticket: Ticket) -> bool:
    return OutboundChange.objects.unfinished().filter(ticket=ticket, kind=ChangeKind.TRANSITION).exists()


def apply_issue(issue: dict, *, event: str = "jira:issue_updated") -> Outcome:
    """Create or update the ticket of one issue (webhook or reconcile)."""
    view = IssueView.parse(issue)
    mappings = Mappings.current()
    with transaction.atomic():
        lock_issue(view.id)
        link = find_link(view)
        if link is None:
            return create_from_issue(view, mappings)
        if link.deleted_at is not None:
            return Outcome("ignored", link.ticket, detail=f"{view.key} was deleted in Jira")
        if link.is_older_than_held(view.updated):
            return Outcome(
                "stale",
                link.ticket,
                detail=f"older than the {link.last_seen_updated:%Y-%m-%d %H:%M:%S} state held",
            )
        snapshot = view.snapshot()
        changed = [name for name, value in snapshot.items() if link.snapshot.get(name, ...) != value]
        ticket = Ticket.objects.get(pk=link.ticket_id)
        # The issue_created echo of an issue we created says nothing about the ticket's status.
        allow_status = not (link.origin == Origin.LOCAL and event == "jira:issue_created")
        changes = apply_changes(ticket, view, changed, mappings, allow_status=allow_status)
        previous = link.snapshot
        link.snapshot = {**link.snapshot, **snapshot}
        link.payload_hash = stable_hash(link.snapshot)
        if view.updated and (link.last_seen_updated is None or view.updated > link.last_seen_updated):
            link.last_seen_updated = view.updated
        link.last_synced_at = timezone.now()
        link.save(update_fields=["snapshot", "payload_hash", "last_seen_updated", "last_synced_at"])
        apply_sla_fields(ticket, link, view)
        if changes:
            record(
                ticket,
                "jira.issue_updated",
                before={name: previous.get(name) for name in changed},
                after={"changed": changes, **{name: snapshot[name] for name in changed}},
                reason=f"{event} {view.key}",
            )
            return Outcome("updated", ticket, changes)
        return Outcome("unchanged", ticket)


def create_from_issue(view: IssueView, mappings: Mappings) -> Outcome:
    values = ticket_values(view, mappings)
    priority = mappings.local_priority(view)
    ticket = do_create_ticket(
        actor=None,
        actor_label=ACTOR,
        channel=Channel.JIRA,
        external_key=view.key,
        title=values.get("title") or view.key,
        description=values.get("description", ""),
        requester=requester_for(view.reporter),
        type=values.get("type", TicketType.INCIDENT),
        priority=priority,
        priority_reason=f"Jira priority {view.priority}" if priority else "",
        tags=values.get("tags", ()),
        service=values.get("service", ""),
        metadata={"jira": jira_metadata(view)},
        created_at=view.created,
    )
    snapshot = view.snapshot()
    link = JiraLink.objects.create(
        ticket=ticket,
        issue_id=view.id,
        issue_key=view.key,
        project_key=view.project_key,
        origin=Origin.JIRA,
        snapshot=snapshot,
        payload_hash=stable_hash(snapshot),
        last_seen_updated=view.updated,
        last_synced_at=timezone.now(),
    )
    changes = []
    assignment = assignee_change(ticket, view) if "assignee" in view.present else {}
    if assignment:
        do_edit_ticket(ticket, assignment, actor=None, actor_label=ACTOR)
        changes.append("assignee")
    if "status" in view.present:
        changes += move_status(ticket, view, mappings)
    apply_sla_fields(ticket, link, view)
    record(
        ticket,
        "jira.issue_created",
        after={"issue": view.key, "then": changes},
        reason=f"created from {view.key}",
    )
    return Outcome("created", Ticket.objects.get(pk=link.ticket_id), changes)


def apply_sla_fields(ticket: Ticket, link: JiraLink, view: IssueView) -> None:
    """JSM SLA custom fields delivered with the issue feed the ticket's clocks (source jira)."""
    sla_fields = view.sla_fields()
    if sla_fields:
        apply_issue_sla_fields(ticket, link, sla_fields)


def apply_changes(
    ticket: Ticket, view: IssueView, changed: list[str], mappings: Mappings, *, allow_status: bool = True
) -> list[str]:
    """The Jira-side changes as one edit of the ticket (fields, priority, assignee), then the
    status moves, one step at a time."""
    values = ticket_values(view, mappings)
    edits: dict[str, Any] = {}
    for jira_name, local_name in (
        ("summary", "title"),
        ("description", "description"),
        ("issuetype", "type"),
        ("labels", "tags"),
        ("components", "service"),
    ):
        if jira_name not in changed or local_name not in values:
            continue
        current = getattr(ticket, local_name)
        wanted = values[local_name]
        if local_name == "tags":
            wanted = normalise_tags(wanted)
        if current != wanted:
            edits[local_name] = wanted
    metadata = {**(ticket.metadata or {}), "jira": jira_metadata(view, (ticket.metadata or {}).get("jira"))}
    if metadata != ticket.metadata:
        edits["metadata"] = metadata
    if "priority" in changed:
        priority = mappings.local_priority(view)
        if priority and priority != ticket.priority:
            edits.update(priority=priority, priority_reason=f"Jira priority {view.priority}")
    if "assignee" in changed:
        edits.update(assignee_change(ticket, view))
    changes: list[str] = []
    if edits:
        applied = do_edit_ticket(ticket, TicketChanges(**edits), actor=None, actor_label=ACTOR)
        # The outcome names what Jira changed: not our copy of its fields, nor the team that
        # follows a new assignee.
        changes = [name for name in applied if name not in ("metadata", "team")]
    if "status" in changed and allow_status and not has_pending_transition(ticket):
        changes += move_status(ticket, view, mappings)
    return changes


def assignee_change(ticket: Ticket, view: IssueView) -> TicketChanges:
    """The issue's assignee as a local one; nothing when it is ours already, or when it is a
    Jira agent we cannot map (the local assignee stays)."""
    if view.assignee is None:
        target = None
    else:
        target = user_for(view.assignee)
        if target is None or not target.is_agent:
            return {}
    return {} if target == ticket.assignee else {"assignee": target}


def move_status(ticket: Ticket, view: IssueView, mappings: Mappings) -> list[str]:
    target = mappings.local_status(view)
    if not target or ticket.status == target or mappings.is_equivalent_status(ticket.status, view.status):
        return []
    path = ticket.status_path_to(target)
    if not path:
        record(
            ticket,
            "jira.status_not_applied",
            before={"status": ticket.status},
            after={"jira_status": view.status, "wanted": target},
            reason=f"{view.key}: no allowed move from {ticket.status} to {target}",
        )
        return []
    for step in path:
        resolution = ""
        if step == TicketStatus.RESOLVED:
            resolution = f"Resolved in Jira ({view.resolution or view.status or 'resolved'})."
        ticket = do_transition_ticket(
            ticket,
            step,
            actor=None,
            actor_label=ACTOR,
            check_permission=False,
            reason=f"Jira status {view.status}",
            resolution=resolution,
        )
    return ["status"]


def apply_delete(issue: dict) -> Outcome:
    view = IssueView.parse(issue)
    with transaction.atomic():
        lock_issue(view.id)
        link = JiraLink.objects.select_for_update().select_related("ticket").filter(issue_id=view.id).first()
        if link is None:
            return Outcome("ignored", detail=f"{view.key} is not linked to a ticket")
        if link.deleted_at is not None:
            return Outcome("unchanged", link.ticket, detail="already archived")
        ticket = do_archive_ticket(
            link.ticket, actor=None, reason=f"{view.key} was deleted in Jira", actor_label=ACTOR
        )
        link.deleted_at = timezone.now()
        link.save(update_fields=["deleted_at"])
        record(ticket, "jira.issue_deleted", after={"archived": True}, reason=f"{view.key} deleted in Jira")
        return Outcome("deleted", ticket, ["archived"])


def apply_comment(event: str, comment: dict, issue: dict, *, fetch_issue: Any = None) -> Outcome:
    """Upsert one Jira comment as a reply (or internal note) on the issue's ticket."""
    view = IssueView.parse(issue)
    comment_id = str(comment.get("id") or "").strip()
    if not comment_id:
        raise ValueError("The comment has no id.")
    with transaction.atomic():
        lock_issue(view.id)
        link = find_link(view)
        if link is None:
            if event == "comment_deleted":
                return Outcome("ignored", detail=f"{view.key} is not linked to a ticket")
            # A comment on an issue we never saw: create its ticket first (full issue if we can).
            full = issue
            if fetch_issue is not None:
                try:
                    full = fetch_issue(view.key)
                except (JiraBadRequest, JiraNotFound) as error:
                    logger.info("Could not fetch %s (%s); using the delivery's fields", view.key, error)
            apply_issue(full, event="jira:issue_created")
            link = find_link(IssueView.parse(full))
            if link is None:
                return Outcome("ignored", detail=f"{view.key} could not be linked")
        if link.deleted_at is not None:
            return Outcome("ignored", link.ticket, detail=f"{view.key} was deleted in Jira")
        ticket = Ticket.objects.get(pk=link.ticket_id)
        known = JiraComment.objects.select_for_update().filter(jira_comment_id=comment_id).first()
        text = fit_text(rich_to_text(comment.get("body")).strip(), COMMENT_MAX_LENGTH)
        internal = is_internal_comment(comment)
        updated = parse_jira_datetime(comment.get("updated")) or parse_jira_datetime(comment.get("created"))
        body_hash = text_hash(text, internal=internal)
        if event == "comment_deleted":
            return delete_comment(ticket, known, comment_id)
        if known is not None:
            return update_comment(
                ticket, known, text=text, internal=internal, updated=updated, body_hash=body_hash
            )
        return add_comment(
            ticket,
            link,
            comment,
            comment_id=comment_id,
            text=text,
            internal=internal,
            updated=updated,
            body_hash=body_hash,
        )


def add_comment(
    ticket: Ticket,
    link: JiraLink,
    comment: dict,
    *,
    comment_id: str,
    text: str,
    internal: bool,
    updated: Any,
    body_hash: str,
) -> Outcome:
    # Our own reply coming back before the push stored its Jira id: adopt it, add nothing.
    own = (
        OutboundChange.objects.filter(
            ticket=ticket,
            kind=ChangeKind.ADD_COMMENT,
            body_hash=body_hash,
            comment__jira_comment__isnull=True,
        )
        .select_related("comment")
        .order_by("pk")
        .first()
    )
    local = own.comment if own is not None and not internal else None
    if local is None:
        local = Comment.objects.filter(source=CommentSource.JIRA, external_id=comment_id).first()
    if local is not None:
        JiraComment.objects.create(
            jira_comment_id=comment_id,
            link=link,
            comment=local,
            origin=Origin.LOCAL if own is not None else Origin.JIRA,
            last_seen_updated=updated,
            body_hash=body_hash,
        )
        return Outcome("unchanged", ticket, detail=f"comment {comment_id} is already {local.pk}")
    author = Account.parse(comment.get("author")) or Account.parse(comment.get("updateAuthor"))
    created_at = parse_jira_datetime(comment.get("created"))
    try:
        local = do_add_comment(
            ticket,
            actor=None,
            body=text or "(empty comment in Jira)",
            internal=internal,
            source=CommentSource.JIRA,
            external_id=comment_id,
            author_label=(author.display_name if author else "Jira")[:200],
            created_at=created_at,
            # A Jira agent's public answer is the desk's reply (its first one: the first response).
            by_desk_staff=author is not None and not author.is_customer,
        )
    except ValidationError as error:
        return Outcome("ignored", ticket, detail=f"comment {comment_id} refused: {error}")
    JiraComment.objects.create(
        jira_comment_id=comment_id,
        link=link,
        comment=local,
        origin=Origin.JIRA,
        last_seen_updated=updated,
        body_hash=body_hash,
    )
    record(
        ticket,
        "jira.comment_added",
        after={"comment": local.pk, "internal": internal},
        reason=f"Jira comment {comment_id}",
    )
    return Outcome("updated", ticket, ["internal note" if internal else "reply"])


def update_comment(
    ticket: Ticket, known: JiraComment, *, text: str, internal: bool, updated: Any, body_hash: str
) -> Outcome:
    if known.last_seen_updated and updated and updated < known.last_seen_updated:
        return Outcome("stale", ticket, detail=f"comment {known.jira_comment_id} is older than held")
    if known.body_hash == body_hash or known.deleted_at is not None:
        if updated and (known.last_seen_updated is None or updated > known.last_seen_updated):
            known.last_seen_updated = updated
            known.save(update_fields=["last_seen_updated"])
        return Outcome("unchanged", ticket)
    local = (
        Comment.objects.filter(pk=known.comment_id).select_related("ticket").first()
        if known.comment_id
        else None
    )
    if local is not None and text:
        previous = {"body": local.body, "internal": local.internal}
        do_edit_comment(local, actor=None, body=text, internal=internal, actor_label=ACTOR)
        record(
            ticket,
            "jira.comment_edited",
            before=previous,
            after={"body": text, "internal": internal},
            reason=f"Jira comment {known.jira_comment_id} edited",
        )
    known.body_hash, known.last_seen_updated = body_hash, updated or known.last_seen_updated
    known.save(update_fields=["body_hash", "last_seen_updated"])
    return Outcome("updated", ticket, ["comment"])


def delete_comment(ticket: Ticket, known: JiraComment | None, comment_id: str) -> Outcome:
    if known is None:
        return Outcome("ignored", ticket, detail=f"comment {comment_id} is unknown")
    if known.deleted_at is not None:
        return Outcome("unchanged", ticket)
    known.deleted_at = timezone.now()
    known.save(update_fields=["deleted_at"])
    # The local comment stays (the conversation is history); the deletion is recorded.
    record(
        ticket,
        "jira.comment_deleted",
        before={"comment": known.comment_id},
        reason=f"Jira comment {comment_id} deleted",
    )
    return Outcome("updated", ticket, ["comment deleted in Jira"])


def process_receipt(receipt: WebhookReceipt, *, fetch_issue: Any = None) -> Outcome | None:
    """Apply one stored delivery; transient Jira errors propagate (the worker retries).

    A delivery of a project that is not synchronised to tickets (``for_tickets`` false) changes
    no ticket. Every delivery processed (applied, unchanged or ignored, not refused) is then
    announced to ``signals.delivery_processed`` in the transaction that marks it done.
    """
    if receipt.state != ReceiptState.PENDING:
        return None
    Mappings.recent()
    payload = receipt.payload
    event = receipt.event
    try:
        if not receipt.for_tickets:
            outcome = Outcome("listeners", detail="project not synchronised to tickets")
        elif event in ISSUE_EVENTS:
            outcome = apply_issue(payload["issue"], event=event)
        elif event == DELETE_EVENT:
            outcome = apply_delete(payload["issue"])
        elif event in COMMENT_EVENTS:
            outcome = apply_comment(event, payload["comment"], payload["issue"], fetch_issue=fetch_issue)
        else:
            outcome = Outcome("ignored", detail=f"{event} is not handled")
    except (ValueError, KeyError, TypeError, ValidationError) as error:
        receipt.finish(ReceiptState.FAILED, f"refused: {error}")
        return None
    except (JiraError, DatabaseError):
        raise  # transient (Jira down, a lock timeout): the worker retries the job
    except Exception as error:
        # A bug must not make the sweep re-queue this delivery forever: keep it, visibly failed.
        logger.exception("Applying Jira delivery %s failed", receipt.pk)
        receipt.finish(ReceiptState.FAILED, f"error: {error!r}")
        return None
    state = ReceiptState.IGNORED if outcome.result in ("ignored", "stale") else ReceiptState.PROCESSED
    with transaction.atomic():
        receipt.finish(state, outcome.describe())
        if event in HANDLED_EVENTS:
            delivery_processed.send(
                sender=WebhookReceipt,
                receipt=receipt,
                project_key=IssueView.project_of(payload.get("issue")),
                for_tickets=receipt.for_tickets,
            )
    return outcome
