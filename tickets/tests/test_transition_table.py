"""The status machine pinned literally: every move, allowed or refused, written out by hand.

(The expected table is not derived from ``TRANSITIONS``: a move dropped from or added to the map
must fail here.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tickets.models import IllegalTransition, Ticket

pytestmark = pytest.mark.django_db

STATUSES = [
    "pending_approval",
    "new",
    "open",
    "in_progress",
    "pending_customer",
    "pending_vendor",
    "resolved",
    "closed",
    "cancelled",
]
MOVES = {
    "pending_approval": ["new", "cancelled"],
    "new": ["open", "in_progress", "pending_customer", "pending_vendor", "resolved", "cancelled"],
    "open": ["in_progress", "pending_customer", "pending_vendor", "resolved", "cancelled"],
    "in_progress": ["open", "pending_customer", "pending_vendor", "resolved", "cancelled"],
    "pending_customer": ["open", "in_progress", "resolved", "cancelled"],
    "pending_vendor": ["open", "in_progress", "resolved", "cancelled"],
    "resolved": ["open", "closed"],
    "closed": [],
    "cancelled": [],
}
PAIRS = [(source, target) for source in STATUSES for target in STATUSES]


def put_in(ticket: Ticket, status: str) -> Ticket:
    """Force a status for the starting point (bypassing the machine on purpose)."""
    Ticket.objects.filter(pk=ticket.pk).update(status=status)
    ticket.refresh_from_db()
    return ticket


def test_the_statuses_are_the_expected_ones():
    from tickets.models import TicketStatus

    assert TicketStatus.values == STATUSES


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_each_move_is_allowed_or_refused_as_the_table_says(make_ticket, agent, source, target):
    ticket = put_in(make_ticket(), source)
    assert ticket.allowed_transitions() == MOVES[source]
    assert ticket.can_transition_to(target) == (target in MOVES[source])
    if target in MOVES[source]:
        assert ticket.transition_to(target, actor=agent, resolution="Replaced the toner.") == source
        ticket.refresh_from_db()
        assert ticket.status == target
    else:
        with pytest.raises(IllegalTransition) as refused:
            ticket.transition_to(target, actor=agent, resolution="Replaced the toner.")
        assert refused.value.allowed == MOVES[source]
        ticket.refresh_from_db()
        assert ticket.status == source


@pytest.mark.parametrize("status", STATUSES)
def test_cancelled_and_closed_are_final(make_ticket, status):
    ticket = put_in(make_ticket(), status)
    assert ticket.is_final == (status in ("closed", "cancelled"))
    assert ticket.is_open == (status in ("new", "open", "in_progress", "pending_customer", "pending_vendor"))
    assert ticket.is_paused == (status in ("pending_approval", "pending_customer", "pending_vendor"))


def test_a_transition_advances_the_stored_and_in_memory_updated_at_and_version(make_ticket, agent):
    created = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(created, tick=False):
        ticket = make_ticket()
    assert ticket.updated_at == created
    moved = created + timedelta(minutes=5)
    with time_machine.travel(moved, tick=False):
        ticket.transition_to("in_progress", actor=agent)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert ticket.updated_at == stored.updated_at == moved
    assert ticket.version == stored.version == 2
    with time_machine.travel(moved + timedelta(minutes=5), tick=False):
        ticket.transition_to("resolved", actor=agent, resolution="Replaced the toner.")
    stored = Ticket.objects.get(pk=ticket.pk)
    assert ticket.updated_at == stored.updated_at == stored.resolved_at == moved + timedelta(minutes=5)
    assert ticket.version == stored.version == 3
