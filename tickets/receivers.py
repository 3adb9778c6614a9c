"""What the tickets app listens to: its own signals (the bell and requester mail) and the demo seed."""

from __future__ import annotations

from itsm.signals import demo_seeded
from tickets import demo, notifications, signals
from tickets.actions import csat


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
    demo_seeded.connect(demo.seed_tickets, dispatch_uid="tickets-demo")
