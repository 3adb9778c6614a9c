"""What the configuration database listens to: new and edited tickets."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from cmdb import demo
from cmdb.tasks import defer_extraction_on_commit
from itsm.signals import demo_seeded
from tickets import signals

# The fields extraction reads; other edits (status, assignee …) do not queue a run.
READ_FIELDS = {"title", "description", "service", "metadata"}


def on_ticket_created(sender: Any, ticket: Any, **kwargs: Any) -> None:
    if settings.CMDB_EXTRACTION_ENABLED:
        defer_extraction_on_commit(ticket.pk)


def on_ticket_updated(sender: Any, ticket: Any, changed: list[str] | None = None, **kwargs: Any) -> None:
    if settings.CMDB_EXTRACTION_ENABLED and READ_FIELDS & set(changed or ()):
        defer_extraction_on_commit(ticket.pk)


def connect() -> None:
    """Called from ``CmdbConfig.ready()``; the ``dispatch_uid``s make a second call a no-op."""
    signals.ticket_created.connect(on_ticket_created, dispatch_uid="cmdb-extract-created")
    signals.ticket_updated.connect(on_ticket_updated, dispatch_uid="cmdb-extract-updated")
    demo_seeded.connect(demo.seed_items, dispatch_uid="cmdb-demo")
