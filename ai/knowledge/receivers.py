"""What the knowledge base listens to: ticket signals and its own article saves."""

from __future__ import annotations

from typing import Any

from ai.knowledge.indexing import INDEXED_TICKET_STATUSES
from ai.knowledge.models import SourceType
from ai.knowledge.tasks import schedule_index

# Ticket fields whose change alters what a resolved ticket contributes to the index.
TICKET_TEXT_FIELDS = {"title", "description", "resolution", "sensitive"}


def on_ticket_status_changed(sender: Any, ticket: Any, previous: str, status: str, **kwargs: Any) -> None:
    """Resolved or closed: index it; reopened or cancelled after that: drop its chunks."""
    if status in INDEXED_TICKET_STATUSES or previous in INDEXED_TICKET_STATUSES:
        schedule_index(SourceType.TICKET, ticket.pk)


def on_ticket_updated(sender: Any, ticket: Any, changed: list[str], **kwargs: Any) -> None:
    if ticket.status in INDEXED_TICKET_STATUSES and TICKET_TEXT_FIELDS.intersection(changed or ()):
        schedule_index(SourceType.TICKET, ticket.pk)


def on_article_saved(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw:
        return
    schedule_index(SourceType.ARTICLE, instance.pk)


def on_article_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    schedule_index(SourceType.ARTICLE, instance.pk)
