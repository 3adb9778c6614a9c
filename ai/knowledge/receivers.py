"""What the knowledge base listens to: ticket signals and its own article saves."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from ai.knowledge.indexing import INDEXED_TICKET_STATUSES
from ai.knowledge.models import KnowledgeArticle, SourceType
from ai.knowledge.tasks import schedule_index
from tickets import signals

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


def connect() -> None:
    """Keep the chunk index current: resolved tickets and article edits are re-embedded by the worker."""
    signals.ticket_status_changed.connect(on_ticket_status_changed, dispatch_uid="kb-ticket-status")
    signals.ticket_updated.connect(on_ticket_updated, dispatch_uid="kb-ticket-updated")
    post_save.connect(on_article_saved, sender=KnowledgeArticle, dispatch_uid="kb-article-saved")
    post_delete.connect(on_article_deleted, sender=KnowledgeArticle, dispatch_uid="kb-article-deleted")
