"""Outbound ticket mail, plugged into the tickets signals.

The checks are plain Python on objects the caller already holds; only a mail that is really
queued takes a savepoint (guarded), so other ticket changes pay nothing.
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings

from integrations.email.actions import do_queue_ticket_email
from integrations.email.models import MailKind
from integrations.webhooks.events import guarded
from tickets import signals
from tickets.actions.conversation import is_desk_reply
from tickets.models import Channel, CommentSource


@functools.partial(guarded, writes=False)
def acknowledge_email_ticket(sender: Any, ticket: Any, **kwargs: Any) -> None:
    """A ticket opened by email gets an acknowledgement carrying its number, in the same thread."""
    if ticket.channel != Channel.EMAIL or not settings.EMAIL_ACKNOWLEDGE_NEW_TICKETS:
        return
    original = ((ticket.metadata or {}).get("email") or {}).get("message_id", "")
    _queue(ticket, kind=MailKind.ACKNOWLEDGEMENT, body="", in_reply_to=original)


@functools.partial(guarded, writes=False)
def mail_public_reply(sender: Any, ticket: Any, comment: Any, **kwargs: Any) -> None:
    """An agent's public reply written here (web or API) is mailed to the requester."""
    if not settings.EMAIL_SEND_REPLIES:
        return
    if comment.source not in (CommentSource.WEB, CommentSource.API):
        return  # mail came in by mail; Jira comments are Jira's to notify
    if not is_desk_reply(ticket, actor=comment.author, internal=comment.internal, by_desk_staff=False):
        return
    _queue(ticket, kind=MailKind.REPLY, body=comment.body, comment=comment)


@guarded
def _queue(ticket: Any, **kwargs: Any) -> None:
    do_queue_ticket_email(ticket, **kwargs)


def connect() -> None:
    signals.ticket_created.connect(acknowledge_email_ticket, dispatch_uid="mail.acknowledge")
    signals.comment_added.connect(mail_public_reply, dispatch_uid="mail.reply")
