"""What the knowledge base listens to: ticket signals, its own article saves, and the Jira
integration's deliveries (``integrations.jira.signals``) for the Jira knowledge projects."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from ai.knowledge.indexing import INDEXED_TICKET_STATUSES
from ai.knowledge.jira.deliveries import is_knowledge_project
from ai.knowledge.models import JiraKnowledgeProject, KnowledgeArticle, SourceType
from ai.knowledge.queueing import schedule_index, schedule_jira_delivery, schedule_jira_project_index
from integrations.jira import signals as jira_signals
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


def on_jira_project_claimed(sender: Any, project_key: str, **kwargs: Any) -> bool:
    """Deliveries of a knowledge project are wanted, even when no ticket is synchronised with it."""
    return is_knowledge_project(project_key)


def on_jira_delivery_processed(sender: Any, receipt: Any, project_key: str, **kwargs: Any) -> None:
    if is_knowledge_project(project_key):
        schedule_jira_delivery(receipt.pk)


def on_jira_project_saved(
    sender: Any,
    instance: Any,
    created: bool = False,
    raw: bool = False,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """Enabled or disabled: its stored issues gain or lose their chunks (no Jira read needed)."""
    if raw or created or not instance.enabled_changed:
        return
    instance.enabled_when_loaded = instance.enabled
    schedule_jira_project_index(instance.key)


def on_jira_project_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    schedule_jira_project_index(instance.key)


def connect() -> None:
    """Keep the chunk index current: resolved tickets, article edits and Jira issues of the
    knowledge projects are (re-)embedded by the worker."""
    signals.ticket_status_changed.connect(on_ticket_status_changed, dispatch_uid="kb-ticket-status")
    signals.ticket_updated.connect(on_ticket_updated, dispatch_uid="kb-ticket-updated")
    post_save.connect(on_article_saved, sender=KnowledgeArticle, dispatch_uid="kb-article-saved")
    post_delete.connect(on_article_deleted, sender=KnowledgeArticle, dispatch_uid="kb-article-deleted")
    jira_signals.project_claimed.connect(on_jira_project_claimed, dispatch_uid="kb-jira-project-claimed")
    jira_signals.delivery_processed.connect(on_jira_delivery_processed, dispatch_uid="kb-jira-delivery")
    post_save.connect(
        on_jira_project_saved, sender=JiraKnowledgeProject, dispatch_uid="kb-jira-project-saved"
    )
    post_delete.connect(
        on_jira_project_deleted, sender=JiraKnowledgeProject, dispatch_uid="kb-jira-project-deleted"
    )
