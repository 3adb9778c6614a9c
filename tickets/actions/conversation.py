"""The conversation: replies and internal notes, their edits, watchers, and views of sensitive tickets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from tickets import signals
from tickets.actions.attachments import check_attachment, store_attachment
from tickets.actions.tickets import check_can_change, check_choice, check_field, do_transition_ticket
from tickets.actions.worklogs import check_worklog, do_log_work
from tickets.models import (
    AccessChannel,
    Comment,
    CommentSource,
    SensitiveAccess,
    Ticket,
    TicketStatus,
    Watcher,
)
from tickets.models.ticket import audited
from tickets.validation import validate_comment_body

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from itsm.models import User


def check_can_comment(ticket: Ticket, actor: User | None, *, internal: bool) -> None:
    if actor is None:
        return
    if not ticket.is_visible_to(actor) or not actor.can_write():
        raise PermissionDenied("You may not comment on this ticket.")
    if internal and not actor.is_agent:
        raise PermissionDenied("Only agents write internal notes.")


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
def is_desk_reply(ticket: Ticket, *, actor: User | None, internal: bool, by_desk_staff: bool) -> bool:
    """Whether a new comment answers the requester for the desk (the first one is the ticket's
    first response, which stops the SLA response clock): a public reply by an agent who is
    not the requester (web, API, email), or a public comment that automation mirrors from
    another system where its author is desk staff (a Jira agent, not a Jira customer)."""
    if internal:
        return False
    if actor is None:
        return by_desk_staff
    return actor.is_agent and actor.pk != ticket.requester_id


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
    by_desk_staff: bool = False,
    time_spent: int = 0,
    billable: bool = False,
) -> Comment:
    """Add a public reply or an internal note.

    ``actor`` is the person who wrote it, or None for automation that mirrors a comment written
    elsewhere (Jira), named by ``author_label``. For such a mirrored comment, ``by_desk_staff=True``
    says its author is desk staff in that system (a Jira agent, not a customer): a public one is
    then a reply of the desk, as an agent's would be. People's comments are judged by their
    role, so ``by_desk_staff`` goes with ``actor=None`` only.

    The first reply of the desk (``is_desk_reply``) sets ``first_response_at`` (once) before
    ``comment_added`` is sent, so the SLA response clock stops from that one signal.

    ``time_spent`` (minutes) goes in the ticket's work log with the comment (agents only).
    """
    if by_desk_staff and actor is not None:
        raise ValueError("by_desk_staff describes a mirrored comment (actor=None); a person's role decides.")
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "The message is empty."})
    check_field("body", body, validate_comment_body)
    check_can_comment(ticket, actor, internal=internal)
    if not ticket.can_take_reply_from(actor):
        raise ValidationError(gettext("This ticket is closed; please open a new one."))
    uploads = list(attachments)
    for upload in uploads:
        check_attachment(upload)
    if time_spent:
        check_can_change(ticket, actor)  # time is logged by agents
        check_worklog(time_spent, None, "")
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
    if time_spent and actor is not None:
        do_log_work(ticket, actor=actor, minutes=time_spent, billable=billable, comment=comment)
    if is_desk_reply(ticket, actor=actor, internal=internal, by_desk_staff=by_desk_staff):
        # Compare-and-set: of two first replies racing, one sets it.
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
        and Ticket.objects.filter(
            pk=ticket.pk, status__in=[TicketStatus.PENDING_CUSTOMER, TicketStatus.RESOLVED]
        ).exists()
    ):
        # The customer answered (or wrote back about a resolved ticket: it is not solved for
        # them): the ticket is back with the desk, and its SLA clocks resume.
        do_transition_ticket(
            ticket, TicketStatus.OPEN, actor=actor, reason="requester replied", check_permission=False
        )
    return comment


@transaction.atomic
def do_edit_comment(
    comment: Comment, *, actor: User | None, body: str, internal: bool | None = None, actor_label: str = ""
) -> Comment:
    """Change what a comment says (and whether it is an internal note); the conversation keeps
    its place in time, ``updated_at`` marks it edited. People edit only their own comments;
    automation (``actor=None``: a Jira comment edited in Jira) may edit the one it mirrors. All or
    nothing: a listener of ``comment_edited`` that fails leaves the comment as it was."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "The message is empty."})
    check_field("body", body, validate_comment_body)
    internal = comment.internal if internal is None else internal
    if actor is not None and comment.author_id != actor.pk:
        raise PermissionDenied("You may only edit your own comments.")
    if actor is not None and comment.ticket.is_final:
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


def do_watch_ticket(ticket: Ticket, *, user: User) -> bool:
    if not ticket.is_visible_to(user):
        raise PermissionDenied("You may not watch this ticket.")
    _watcher, created = Watcher.objects.get_or_create(ticket=ticket, user=user)
    return created


def do_unwatch_ticket(ticket: Ticket, *, user: User) -> bool:
    deleted, _ = Watcher.objects.filter(ticket=ticket, user=user).delete()
    return bool(deleted)
