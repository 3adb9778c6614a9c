"""What the configuration database listens to: new and edited tickets."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from cmdb.tasks import defer_extraction_on_commit

# The fields extraction reads; other edits (status, assignee …) do not queue a run.
READ_FIELDS = {"title", "description", "service", "metadata"}


def on_ticket_created(sender: Any, ticket: Any, **kwargs: Any) -> None:
    if settings.CMDB_EXTRACTION_ENABLED:
        defer_extraction_on_commit(ticket.pk)


def on_ticket_updated(sender: Any, ticket: Any, changed: list[str] | None = None, **kwargs: Any) -> None:
    if settings.CMDB_EXTRACTION_ENABLED and READ_FIELDS & set(changed or ()):
        defer_extraction_on_commit(ticket.pk)
