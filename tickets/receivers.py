"""What the tickets app listens to: its own signals (the bell and requester mail), the outcome
of catalog requests' approvals, and the demo seed."""

from __future__ import annotations

from typing import Any

from itsm.approvals import signals as approval_signals
from itsm.signals import demo_seeded
from tickets import demo, notifications, signals
from tickets.actions import catalog, csat


def on_approval_decided(
    sender: Any, approval: Any, target: Any, outcome: str, actor: Any = None, **kwargs: Any
) -> None:
    catalog.on_approval_decided(approval, target, outcome, actor)


def on_status_changed(
    sender: Any, ticket: Any, previous: str = "", status: str = "", actor: Any = None, **kwargs: Any
) -> None:
    catalog.on_ticket_status_changed(ticket, previous, status, actor)


def connect() -> None:
    """Called from ``TicketsConfig.ready()``; the ``dispatch_uid``s make a second call a no-op."""
    signals.ticket_created.connect(
        notifications.on_ticket_created, dispatch_uid="tickets.notifications.created"
    )
    signals.ticket_assigned.connect(
        notifications.on_ticket_assigned, dispatch_uid="tickets.notifications.assigned"
    )
    # Before the notifications: a resolution creates the survey whose link its mail carries.
    signals.ticket_status_changed.connect(csat.on_status_changed, dispatch_uid="tickets.csat.status")
    signals.ticket_status_changed.connect(
        notifications.on_status_changed, dispatch_uid="tickets.notifications.status"
    )
    signals.comment_added.connect(
        notifications.on_comment_added, dispatch_uid="tickets.notifications.comment"
    )
    # A catalog request waiting for approval: its approval's outcome moves it on, and a
    # request cancelled while it waits withdraws its approval.
    approval_signals.approval_decided.connect(on_approval_decided, dispatch_uid="tickets.catalog.approval")
    signals.ticket_status_changed.connect(on_status_changed, dispatch_uid="tickets.catalog.status")
    demo_seeded.connect(demo.seed_tickets, dispatch_uid="tickets-demo")
