"""Outbound Jira: local tickets, public replies and status changes reach the linked issue.

The ticket signals write an ``OutboundChange`` row and defer ``push_ticket`` inside the
transaction that made the change, so the worker only sees it after commit and a rollback
leaves nothing behind. The worker sends a ticket's changes in order; a transient failure
(Jira down, 429, 5xx, bad credentials) leaves them pending and the job is retried with
backoff, and a periodic sweep re-queues anything still waiting, so nothing is lost.

Loops are avoided at both ends: changes made by ``system:jira`` (applying a webhook) are
never pushed, and what we push is written into the link's snapshot so its echo changes
nothing when it comes back.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.jira import client as jira_client
from integrations.jira.adf import text_to_adf
from integrations.jira.inbound import ACTOR, lock_issue
from integrations.jira.mapper import (
    STATUS_TO_CATEGORY,
    Mappings,
    create_fields,
    marker_label,
    minimal_fields,
    parse_jira_datetime,
    sent_snapshot,
    text_hash,
)
from integrations.jira.models import (
    ChangeKind,
    ChangeState,
    JiraComment,
    JiraLink,
    Origin,
    OutboundChange,
    ProjectKey,
    stable_hash,
)
from integrations.jira.queueing import defer_push
from integrations.jira.transport import JiraAuthError, JiraBadRequest, JiraError, JiraUnavailable
from tickets.models import Channel, CommentSource, Ticket

logger = logging.getLogger(__name__)


class WaitForIssue(Exception):
    """A reply or status change of a ticket whose issue is not created yet."""


def push_project() -> str:
    configured = [key.strip().upper() for key in settings.JIRA_PROJECT_KEY if key.strip()]
    if configured:
        return configured[0]
    return ProjectKey.objects.order_by("created_at", "pk").values_list("key", flat=True).first() or ""


def is_push_enabled() -> bool:
    """The integration is on: push allowed, base URL and credentials set, a project to push to."""
    return bool(settings.JIRA_PUSH_ENABLED and jira_client.is_configured() and push_project())


# --- signal receivers (inside the ticket's transaction) ---------------------------------------
def on_ticket_created(sender: Any, ticket: Ticket, actor_label: str = "", **kwargs: Any) -> None:
    if actor_label == ACTOR or ticket.channel == Channel.JIRA or ticket.external_key or not is_push_enabled():
        return
    JiraLink.objects.get_or_create(
        ticket=ticket, defaults={"origin": Origin.LOCAL, "project_key": push_project()}
    )
    queue_change(ticket, ChangeKind.CREATE_ISSUE)


def on_comment_added(sender: Any, ticket: Ticket, comment: Any, actor_label: str = "", **kwargs: Any) -> None:
    if comment.internal or comment.source == CommentSource.JIRA or actor_label == ACTOR:
        return
    if not is_push_enabled() or not JiraLink.objects.filter(ticket=ticket, deleted_at=None).exists():
        return
    queue_change(ticket, ChangeKind.ADD_COMMENT, comment=comment, body_hash=text_hash(comment.body))


def on_comment_edited(
    sender: Any, ticket: Ticket, comment: Any, actor_label: str = "", **kwargs: Any
) -> None:
    """A public reply already in Jira was edited here: the Jira comment follows. (One still
    waiting to be pushed needs nothing: the push sends the text as it is then.)"""
    if comment.internal or comment.source == CommentSource.JIRA or actor_label == ACTOR:
        return
    if not is_push_enabled():
        return
    in_jira = JiraComment.objects.filter(comment=comment, deleted_at=None).exists()
    # Being sent right now, with the old text: the edit follows once the push stored its id.
    being_sent = OutboundChange.objects.filter(
        comment=comment, kind=ChangeKind.ADD_COMMENT, state=ChangeState.SENDING
    ).exists()
    if not (in_jira or being_sent):
        return
    queue_change(ticket, ChangeKind.EDIT_COMMENT, comment=comment, body_hash=text_hash(comment.body))


def on_status_changed(sender: Any, ticket: Ticket, status: str, actor_label: str = "", **kwargs: Any) -> None:
    if actor_label == ACTOR or not is_push_enabled():
        return
    if not JiraLink.objects.filter(ticket=ticket, deleted_at=None).exists():
        return
    queue_change(ticket, ChangeKind.TRANSITION, target_status=status)


def queue_change(ticket: Ticket, kind: str, **values: Any) -> OutboundChange | None:
    try:
        with transaction.atomic():
            change = OutboundChange.objects.create(ticket=ticket, kind=kind, **values)
    except IntegrityError:
        return None  # already queued (one create per ticket, one push per comment)
    defer_push(ticket.pk)
    return change


# --- the worker's side --------------------------------------------------------------------
def push_changes(ticket_id: int, *, client: jira_client.JiraClient | None = None) -> list[str]:
    """Send the ticket's waiting changes in order; transient errors propagate (retry later)."""
    changes = list(OutboundChange.objects.unfinished().filter(ticket_id=ticket_id).order_by("pk"))
    if not changes:
        return []
    Mappings.load()
    client = client or jira_client.JiraClient()
    results = []
    for change in changes:
        try:
            result = send_change(change, client)
        except (JiraUnavailable, JiraAuthError) as error:
            OutboundChange.objects.filter(pk=change.pk).update(
                state=ChangeState.PENDING, last_error=str(error)[:2000]
            )
            raise
        except WaitForIssue as error:
            finish(change, ChangeState.SKIPPED, str(error))
            results.append(f"{change.kind}: skipped ({error})")
            continue
        except JiraError as error:
            finish(change, ChangeState.FAILED, str(error))
            logger.warning("Jira refused %s for ticket %s: %s", change.kind, ticket_id, error)
            results.append(f"{change.kind}: failed ({error})")
            if change.kind == ChangeKind.CREATE_ISSUE:
                # Without an issue its replies and status changes have nowhere to go.
                OutboundChange.objects.unfinished().filter(ticket_id=ticket_id).update(
                    state=ChangeState.SKIPPED, last_error="the Jira issue could not be created"
                )
                break
            continue
        finish(change, ChangeState.DONE, result)
        results.append(f"{change.kind}: {result}")
    return results


def finish(change: OutboundChange, state: str, message: str) -> None:
    OutboundChange.objects.filter(pk=change.pk).update(
        state=state,
        last_error="" if state == ChangeState.DONE else message[:2000],
        done_at=timezone.now() if state != ChangeState.PENDING else None,
    )


def start(change: OutboundChange) -> None:
    """Mark as being sent (committed at once: the inbound side sees our own echo coming)."""
    change.attempts += 1
    OutboundChange.objects.filter(pk=change.pk).update(state=ChangeState.SENDING, attempts=change.attempts)


def send_change(change: OutboundChange, client: jira_client.JiraClient) -> str:
    if change.kind == ChangeKind.CREATE_ISSUE:
        return send_create(change, client)
    link = JiraLink.objects.filter(ticket_id=change.ticket_id).first()
    if link is None or not link.issue_key:
        raise WaitForIssue("the ticket is not linked to a Jira issue")
    if link.deleted_at is not None:
        raise WaitForIssue(f"{link.issue_key} was deleted in Jira")
    if change.kind == ChangeKind.ADD_COMMENT:
        return send_comment(change, link, client)
    if change.kind == ChangeKind.EDIT_COMMENT:
        return send_comment_edit(change, link, client)
    return send_transition(change, link, client)


def about_fields(error: JiraBadRequest) -> bool:
    return error.status == 400 and (
        bool(error.errors) or any("field" in message.lower() for message in error.error_messages)
    )


def send_create(change: OutboundChange, client: jira_client.JiraClient) -> str:
    ticket = Ticket.objects.get(pk=change.ticket_id)
    link, _ = JiraLink.objects.get_or_create(
        ticket=ticket, defaults={"origin": Origin.LOCAL, "project_key": push_project()}
    )
    if link.issue_id:
        return f"already linked to {link.issue_key}"
    project = link.project_key or push_project()
    mappings = Mappings.current()
    if change.attempts:
        # An earlier attempt may have created the issue and failed before we stored its key:
        # Jira has no idempotency key, so look for our marker label before creating again.
        page = client.search_page(
            f'project = "{project}" AND labels = "{marker_label(ticket)}"',
            fields=["summary", "updated"],
            max_results=1,
        )
        if page.issues:
            found = page.issues[0]
            store_created(link, ticket, str(found.get("id")), str(found.get("key")), {})
            return f"found {found.get('key')} created by an earlier attempt"
    start(change)
    fields = create_fields(ticket, project, mappings)
    try:
        created = client.create_issue(fields)
    except JiraBadRequest as error:
        if not about_fields(error):
            raise
        logger.info(
            "Jira refused fields for %s (%s); retrying once with a minimal payload", ticket.number, error
        )
        fields = minimal_fields(fields, error_messages=error.error_messages, errors=error.errors)
        created = client.create_issue(fields)
    if not isinstance(created, dict) or not created.get("id") or not created.get("key"):
        raise JiraUnavailable("Jira's create answer has no id or key.")
    store_created(
        link, ticket, str(created["id"]), str(created["key"]), sent_snapshot(fields, ticket, mappings)
    )
    return f"created {created['key']}"


def store_created(link: JiraLink, ticket: Ticket, issue_id: str, key: str, snapshot: dict) -> None:
    with transaction.atomic():
        lock_issue(issue_id)
        link = JiraLink.objects.select_for_update().get(pk=link.pk)
        if link.issue_id not in (None, issue_id):
            return
        JiraLink.objects.filter(issue_key=key).exclude(pk=link.pk).update(issue_key=None)
        link.issue_id, link.issue_key = issue_id, key
        link.snapshot = {**snapshot, **link.snapshot}
        link.payload_hash = stable_hash(link.snapshot)
        link.last_synced_at = timezone.now()
        link.save(update_fields=["issue_id", "issue_key", "snapshot", "payload_hash", "last_synced_at"])
        ticket = Ticket.objects.get(pk=ticket.pk)
        if ticket.external_key != key and not Ticket.objects.filter(external_key=key).exists():
            # tickets.actions offers no action for the external key: the model's own write
            # (audited, versioned) is used so the ticket API shows it as ``jira_key``.
            ticket.update_fields(
                {"external_key": key}, actor=None, actor_label=ACTOR, reason=f"pushed to {key}"
            )


def send_comment(change: OutboundChange, link: JiraLink, client: jira_client.JiraClient) -> str:
    comment = change.comment
    if comment is None:
        return "the reply no longer exists"
    known = JiraComment.objects.filter(comment=comment).first()
    if known is not None:
        return f"already Jira comment {known.jira_comment_id}"
    start(change)
    answer = client.add_comment(link.issue_key, text_to_adf(comment.body))
    comment_id = str((answer or {}).get("id") or "")
    if not comment_id:
        raise JiraUnavailable("Jira's comment answer has no id.")
    with transaction.atomic():
        lock_issue(link.issue_id)
        # The webhook echo may have adopted it already (same Jira id): keep one row.
        JiraComment.objects.get_or_create(
            jira_comment_id=comment_id,
            defaults={
                "link": link,
                "comment": comment,
                "origin": Origin.LOCAL,
                "last_seen_updated": parse_jira_datetime((answer or {}).get("updated")),
                "body_hash": text_hash(comment.body),
            },
        )
    return f"Jira comment {comment_id}"


def send_comment_edit(change: OutboundChange, link: JiraLink, client: jira_client.JiraClient) -> str:
    comment = change.comment
    if comment is None:
        return "the reply no longer exists"
    known = JiraComment.objects.filter(comment=comment).first()
    if known is None:
        return "the reply is not in Jira"
    if known.deleted_at is not None:
        return f"Jira comment {known.jira_comment_id} was deleted in Jira"
    body_hash = text_hash(comment.body)
    if known.body_hash == body_hash:
        return f"Jira comment {known.jira_comment_id} already says this"  # a later edit sent it, or an echo
    start(change)
    answer = client.update_comment(link.issue_key, known.jira_comment_id, text_to_adf(comment.body))
    with transaction.atomic():
        lock_issue(link.issue_id)
        # Stored before the echo is applied (same lock): the comment_updated echo changes nothing.
        JiraComment.objects.filter(pk=known.pk).update(
            body_hash=body_hash,
            last_seen_updated=parse_jira_datetime((answer or {}).get("updated")) or known.last_seen_updated,
        )
    return f"Jira comment {known.jira_comment_id} edited"


def pick_transition(transitions: list[dict], target_name: str, category: str) -> dict | None:
    def to(transition: dict) -> dict:
        return transition.get("to") if isinstance(transition.get("to"), dict) else {}

    usable = [transition for transition in transitions if transition.get("isAvailable", True) is not False]
    if target_name:
        for transition in usable:
            if str(to(transition).get("name", "")).casefold() == target_name.casefold():
                return transition
        for transition in usable:
            if str(transition.get("name", "")).casefold() == target_name.casefold():
                return transition
    for transition in usable:
        status_category = to(transition).get("statusCategory")
        if isinstance(status_category, dict) and status_category.get("key") == category:
            return transition
    return None


def send_transition(change: OutboundChange, link: JiraLink, client: jira_client.JiraClient) -> str:
    mappings = Mappings.current()
    target = change.target_status
    target_name = mappings.jira_status_for(target)
    current = str(link.snapshot.get("status") or "")
    if current and (
        (target_name and current.casefold() == target_name.casefold())
        or mappings.status_in.get(current.casefold()) == target
    ):
        return f"{link.issue_key} is already {current}"
    category = STATUS_TO_CATEGORY.get(target, "indeterminate")
    start(change)
    transitions = client.get_transitions(link.issue_key)
    choice = pick_transition(transitions, target_name, category)
    if choice is None:
        names = ", ".join(str((t.get("to") or {}).get("name", "?")) for t in transitions) or "none"
        raise JiraBadRequest(
            f"No transition of {link.issue_key} leads to {target_name or category} (available: {names})."
        )
    try:
        client.transition(link.issue_key, str(choice.get("id")))
    except JiraBadRequest:
        if category != "done":
            raise
        client.transition(link.issue_key, str(choice.get("id")), fields={"resolution": {"name": "Done"}})
    new_status = str((choice.get("to") or {}).get("name") or target_name)
    with transaction.atomic():
        lock_issue(link.issue_id)
        fresh = JiraLink.objects.select_for_update().get(pk=link.pk)
        fresh.snapshot = {**fresh.snapshot, "status": new_status}
        fresh.payload_hash = stable_hash(fresh.snapshot)
        fresh.save(update_fields=["snapshot", "payload_hash"])
    return f"{link.issue_key} → {new_status}"
