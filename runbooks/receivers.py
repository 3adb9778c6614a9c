"""What runbooks listen to: approvals of executions, new tickets and their linked items
(``auto`` mode), the demo seed."""

from __future__ import annotations

from typing import Any

from cmdb import signals as cmdb_signals
from itsm.approvals import signals as approval_signals
from itsm.lib.tasks import defer_once_on_commit
from itsm.signals import demo_seeded
from runbooks.actions import on_approval_decided as decided
from runbooks.demo import seed_runbooks
from runbooks.models import ExecutionMode, RunbookSettings
from tickets import signals as ticket_signals


def on_approval_decided(
    sender: Any, approval: Any, target: Any, outcome: str, actor: Any = None, **kwargs: Any
) -> None:

    decided(approval, target, outcome, actor)


def _match_later(ticket_id: int) -> None:

    if RunbookSettings.load().mode == ExecutionMode.AUTO:
        defer_once_on_commit(
            "runbooks.tasks.match_new_ticket", lock=f"runbooks-match:{ticket_id}", ticket_id=ticket_id
        )


def on_ticket_created(sender: Any, ticket: Any, **kwargs: Any) -> None:
    _match_later(ticket.pk)


def on_item_linked(sender: Any, ticket: Any, **kwargs: Any) -> None:
    # Extraction links items after the ticket is created: match again with them.
    _match_later(ticket.pk)


def on_demo_seeded(sender: Any, **kwargs: Any) -> None:

    seed_runbooks(sender=sender, **kwargs)


def connect() -> None:
    """Called from ``RunbooksConfig.ready()``; the ``dispatch_uid``s make a second call a no-op."""
    approval_signals.approval_decided.connect(on_approval_decided, dispatch_uid="runbooks-approval-decided")
    ticket_signals.ticket_created.connect(on_ticket_created, dispatch_uid="runbooks-ticket-created")
    cmdb_signals.ticket_item_linked.connect(on_item_linked, dispatch_uid="runbooks-item-linked")
    demo_seeded.connect(on_demo_seeded, dispatch_uid="runbooks-demo")
