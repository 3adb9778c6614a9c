"""What triage listens to: new tickets, requester replies, resolutions."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from ai.triage.actions import do_record_outcome, is_requester_message
from ai.triage.tasks import score_sentiment, triage_ticket
from itsm.lib.tasks import defer_once_on_commit
from tickets import signals
from tickets.models import TicketStatus


def on_ticket_created(sender: Any, ticket: Any, **kwargs: Any) -> None:
    if settings.AI_TRIAGE_ENABLED:
        defer_once_on_commit(triage_ticket, lock=f"ai-triage:{ticket.pk}", ticket_id=ticket.pk)
    if settings.AI_SENTIMENT_ENABLED:
        defer_once_on_commit(score_sentiment, lock=f"ai-sentiment:{ticket.pk}:-", ticket_id=ticket.pk)


def on_comment_added(sender: Any, ticket: Any, comment: Any, **kwargs: Any) -> None:
    if settings.AI_SENTIMENT_ENABLED and is_requester_message(ticket, comment):
        defer_once_on_commit(
            score_sentiment,
            lock=f"ai-sentiment:{ticket.pk}:{comment.pk}",
            ticket_id=ticket.pk,
            comment_id=comment.pk,
        )


def on_ticket_status_changed(sender: Any, ticket: Any, status: str, **kwargs: Any) -> None:
    """Resolved (or closed straight away): compare the predictions with the final values."""
    if status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        do_record_outcome(ticket)


def connect() -> None:
    signals.ticket_created.connect(on_ticket_created, dispatch_uid="ai-triage-created")
    signals.comment_added.connect(on_comment_added, dispatch_uid="ai-triage-comment")
    signals.ticket_status_changed.connect(on_ticket_status_changed, dispatch_uid="ai-triage-status")
