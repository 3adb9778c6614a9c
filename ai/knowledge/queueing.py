"""Queueing knowledge work once: (re-)indexing a source, applying a Jira delivery to a knowledge
issue, re-indexing a knowledge project.

The jobs are named, not imported: ``ai/knowledge/tasks.py`` imports the code that asks for
them (the Jira delivery handling), so naming the task keeps the import one way.
"""

from __future__ import annotations

from itsm.lib.tasks import defer_once, defer_once_on_commit

INDEX_SOURCE = "ai.knowledge.tasks.index_source"
APPLY_JIRA_DELIVERY = "ai.knowledge.tasks.apply_jira_delivery"
INDEX_JIRA_PROJECT = "ai.knowledge.tasks.index_jira_project"


def receipt_lock(receipt_id: int) -> str:
    return f"kb-jira-receipt:{receipt_id}"


def schedule_index(source_type: str, source_id: int) -> None:
    """Defers ``index_source`` once the current transaction commits (nothing on rollback).

    One waiting job per source is enough (it reads the source when it runs): a second request
    is dropped while one waits, and two jobs of one source run in turn (``serial``).
    """
    defer_once_on_commit(
        INDEX_SOURCE,
        lock=f"kb-index:{source_type}:{source_id}",
        serial=True,
        source_type=source_type,
        source_id=source_id,
    )


def schedule_jira_delivery(receipt_id: int) -> None:
    """Queues ``apply_jira_delivery`` in the current transaction (the one marking the receipt
    processed), once per receipt. Deliveries of one issue may run in any order: the store
    keeps the newest state (``ai.knowledge.jira.store``)."""
    defer_once(APPLY_JIRA_DELIVERY, lock=receipt_lock(receipt_id), receipt_id=receipt_id)


def schedule_jira_project_index(project_key: str) -> None:
    """Re-indexes a knowledge project's stored issues after commit, once while one waits."""
    defer_once_on_commit(
        INDEX_JIRA_PROJECT, lock=f"kb-jira-project:{project_key}", serial=True, project_key=project_key
    )
