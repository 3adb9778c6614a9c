"""Resolved tickets close on their own after ``DeskSettings.auto_close_days`` days, unless the
requester replied (a reply reopens the ticket: ``do_add_comment``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from tickets.actions.tickets import do_transition_ticket
from tickets.models import DeskSettings, IllegalTransition, Ticket, TicketStatus

ACTOR = "system:auto-close"
BATCH = 500


def closes_at(ticket: Ticket, settings_row: DeskSettings | None = None) -> datetime | None:
    """When a resolved ticket will close on its own (None: it will not)."""
    days = (settings_row or DeskSettings.load()).auto_close_days
    if not days or ticket.status != TicketStatus.RESOLVED or ticket.resolved_at is None:
        return None
    return ticket.resolved_at + timedelta(days=days)


def do_auto_close_resolved(*, now: datetime | None = None) -> int:
    """Close up to ``BATCH`` tickets resolved more than the set number of days ago; returns how
    many. Safe under several workers: each ticket is closed under its row lock by the usual
    edit, and one that moved meanwhile (reopened by a reply) is skipped."""
    days = DeskSettings.load().auto_close_days
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    ids = list(
        Ticket.objects.filter(status=TicketStatus.RESOLVED, resolved_at__lt=cutoff)
        .order_by("resolved_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    closed = 0
    for pk in ids:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update().filter(pk=pk, status=TicketStatus.RESOLVED).first()
            if ticket is None or ticket.resolved_at is None or ticket.resolved_at >= cutoff:
                continue
            try:
                do_transition_ticket(
                    ticket,
                    TicketStatus.CLOSED,
                    actor=None,
                    actor_label=ACTOR,
                    reason=f"resolved more than {days} days ago without a reply",
                )
            except IllegalTransition:
                continue
            closed += 1
    return closed
