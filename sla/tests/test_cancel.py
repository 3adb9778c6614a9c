"""Clocks of a ticket merged into another stop as cancelled: neither met nor breached, final."""

from __future__ import annotations

import pytest

from itsm.models import AutomationEvent
from sla import actions
from sla.models import ClockState, TicketSLA
from tickets.actions import do_transition_ticket

pytestmark = pytest.mark.django_db


def test_cancelling_is_final_and_idempotent(make_ticket, agent, policies):
    ticket = make_ticket("Mail down")
    assert TicketSLA.objects.filter(ticket=ticket).count() == 2
    actions.do_cancel_clocks(ticket, reason="merged into INC-1")
    actions.do_cancel_clocks(ticket, reason="merged into INC-1")  # a second delivery: nothing more
    assert set(TicketSLA.objects.filter(ticket=ticket).values_list("state", flat=True)) == {
        ClockState.CANCELLED
    }
    assert AutomationEvent.objects.filter(action="sla.clock_cancelled").count() == 2  # one per clock
    # later moves leave cancelled clocks alone
    do_transition_ticket(ticket, "resolved", actor=agent, resolution="Merged")
    assert set(TicketSLA.objects.filter(ticket=ticket).values_list("state", flat=True)) == {
        ClockState.CANCELLED
    }


def test_the_api_says_cancelled(api_for, make_ticket, agent, policies):
    ticket = make_ticket("Mail down")
    actions.do_cancel_clocks(ticket, reason="merged")
    response = api_for(agent).get(f"/api/sla/ticket/{ticket.pk}/")
    assert response.status_code == 200, response.json()
    assert "cancelled" in str(response.json())
