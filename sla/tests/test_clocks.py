"""Clocks follow the ticket: start, tier multipliers, pauses, first response, resolve/reopen,
re-target on priority change, all inside the ticket's transaction."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.db import transaction

from itsm.models import AutomationEvent, Organisation
from sla.models import (
    Calendar,
    ClockSource,
    ClockState,
    SLAEvent,
    SLAPause,
    SLAPolicy,
    TicketSLA,
    TierMultiplier,
    WorkingPeriod,
)
from sla.tests.conftest import T0
from tickets.actions import do_add_comment, do_change_priority, do_transition_ticket, do_update_ticket

pytestmark = pytest.mark.django_db


def clocks_of(ticket) -> dict[str, TicketSLA]:
    return {clock.metric: clock for clock in TicketSLA.objects.filter(ticket=ticket)}


def critical(make_ticket, **fields):
    return make_ticket(impact="high", urgency="high", **fields)


def test_it_starts_both_clocks_from_the_policy_of_the_priority(make_ticket, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    clocks = clocks_of(ticket)
    assert clocks["response"].due_at == T0 + timedelta(minutes=15)
    assert clocks["resolution"].due_at == T0 + timedelta(hours=2)
    # At risk with 15 % of the target left.
    assert clocks["resolution"].warn_at == T0 + timedelta(minutes=102)
    assert {clock.state for clock in clocks.values()} == {ClockState.ON_TRACK}
    assert {clock.policy for clock in clocks.values()} == {policies["critical"]}


@pytest.mark.parametrize(
    ("tier", "minutes"), [("enterprise", 60), ("business", 90), ("standard", 120), ("free", 180)]
)
def test_it_scales_targets_by_the_customer_tier(make_ticket, requester, clock_at, policies, tier, minutes):
    requester.organisation = Organisation.objects.create(name=f"Org {tier}", tier=tier)
    requester.save()
    with clock_at(T0):
        ticket = critical(make_ticket)
    assert clocks_of(ticket)["resolution"].due_at == T0 + timedelta(minutes=minutes)


def test_an_edited_tier_multiplier_applies_to_new_tickets(
    make_ticket, requester, enterprise, clock_at, policies
):
    TierMultiplier.objects.filter(tier="enterprise").update(multiplier="0.25")
    requester.organisation = enterprise
    requester.save()
    with clock_at(T0):
        ticket = critical(make_ticket)
    assert clocks_of(ticket)["resolution"].due_at == T0 + timedelta(minutes=30)


def test_a_ticket_without_a_matching_policy_gets_no_clock(make_ticket, policies):
    SLAPolicy.objects.filter(priority="low").update(is_active=False)
    ticket = make_ticket(impact="low", urgency="low")
    assert ticket.priority == "low"
    assert not TicketSLA.objects.filter(ticket=ticket).exists()


def test_the_most_specific_policy_wins(make_ticket, requester, enterprise, clock_at, calendar_24x7, policies):
    requester.organisation = enterprise
    requester.save()
    SLAPolicy.objects.create(
        name="BigCorp critical",
        priority="critical",
        organisation=enterprise,
        response_minutes=5,
        resolution_minutes=60,
        calendar=calendar_24x7,
    )
    with clock_at(T0):
        ticket = critical(make_ticket)
    # 60 minutes × 0.5 (enterprise tier).
    assert clocks_of(ticket)["resolution"].due_at == T0 + timedelta(minutes=30)


def test_clocks_follow_a_business_hours_calendar(make_ticket, clock_at, policies):
    office = Calendar.objects.create(name="Office", time_zone="Europe/Paris")
    WorkingPeriod.objects.bulk_create(
        [WorkingPeriod(calendar=office, weekday=day, start=time(9), end=time(17)) for day in range(5)]
    )
    SLAPolicy.objects.filter(pk=policies["medium"].pk).update(calendar=office)
    with clock_at(T0.replace(hour=15)):  # Monday 16:00 in Paris
        ticket = make_ticket()
    clocks = clocks_of(ticket)
    # 2 working hours for the response: 1 on Monday, 1 on Tuesday from 09:00 Paris (08:00 UTC).
    assert clocks["response"].due_at == T0.replace(day=3, hour=9)
    assert clocks["resolution"].due_at == T0.replace(day=3, hour=15)


def test_the_clocks_roll_back_with_the_ticket(make_ticket, policies):
    with pytest.raises(RuntimeError), transaction.atomic():
        ticket = make_ticket()
        assert TicketSLA.objects.filter(ticket=ticket).count() == 2
        raise RuntimeError("the request failed")
    assert TicketSLA.objects.count() == 0


def test_pending_statuses_pause_both_clocks_and_move_the_due_time(make_ticket, agent, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=5)):
        do_transition_ticket(ticket, "pending_customer", actor=agent)
    clocks = clocks_of(ticket)
    assert {clock.state for clock in clocks.values()} == {ClockState.PAUSED}
    assert clocks["response"].paused_since == T0 + timedelta(minutes=5)
    with clock_at(T0 + timedelta(minutes=45)):
        do_transition_ticket(ticket, "open", actor=agent)
    clocks = clocks_of(ticket)
    assert clocks["response"].state == ClockState.ON_TRACK
    assert clocks["response"].paused_seconds == 40 * 60
    assert clocks["response"].due_at == T0 + timedelta(minutes=55)
    assert clocks["resolution"].due_at == T0 + timedelta(minutes=160)
    pause = SLAPause.objects.get(ticket=ticket)
    assert (pause.reason, pause.ended_at) == ("pending_customer", T0 + timedelta(minutes=45))


def test_a_requester_reply_resumes_a_paused_clock(make_ticket, agent, requester, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=1)):
        do_add_comment(ticket, actor=agent, body="Can you send a screenshot?")
        do_transition_ticket(ticket, "pending_customer", actor=agent)
    with clock_at(T0 + timedelta(minutes=31)):
        do_add_comment(ticket, actor=requester, body="Here it is.")
    ticket.refresh_from_db()
    assert ticket.status == "open"
    assert clocks_of(ticket)["resolution"].due_at == T0 + timedelta(minutes=150)


def test_the_first_public_agent_reply_stops_the_response_clock(
    make_ticket, agent, requester, clock_at, policies
):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=3)):
        do_add_comment(ticket, actor=agent, body="Looking", internal=True)
        do_add_comment(ticket, actor=requester, body="Any news?")
    assert clocks_of(ticket)["response"].stopped_at is None
    with clock_at(T0 + timedelta(minutes=10)):
        do_add_comment(ticket, actor=agent, body="On it.")
    response = clocks_of(ticket)["response"]
    assert (response.state, response.stopped_at) == (ClockState.MET, T0 + timedelta(minutes=10))
    assert clocks_of(ticket)["resolution"].stopped_at is None


def test_a_late_first_response_records_the_breach_once(make_ticket, agent, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=20)):  # after the 15-minute target, before any sweep
        do_add_comment(ticket, actor=agent, body="Sorry for the wait.")
        do_add_comment(ticket, actor=agent, body="Second reply.")
    response = clocks_of(ticket)["response"]
    assert response.state == ClockState.BREACHED
    assert response.breached_at == T0 + timedelta(minutes=15)
    assert SLAEvent.objects.filter(clock=response, kind="breach").count() == 1


def test_resolving_stops_the_clocks_and_reopening_resumes_the_resolution_clock(
    make_ticket, agent, clock_at, policies
):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=30)):
        do_transition_ticket(ticket, "resolved", actor=agent, resolution="Restarted the spooler")
    clocks = clocks_of(ticket)
    assert clocks["resolution"].state == ClockState.MET
    assert clocks["response"].state == ClockState.BREACHED  # no reply within 15 minutes
    with clock_at(T0 + timedelta(hours=5)):
        do_transition_ticket(ticket, "open", actor=agent, reason="it jammed again")
    resolution = clocks_of(ticket)["resolution"]
    assert resolution.stopped_at is None
    # 30 minutes used before the resolution; the 4.5 resolved hours do not count.
    assert resolution.due_at == T0 + timedelta(hours=5, minutes=90)
    assert resolution.state == ClockState.ON_TRACK
    assert clocks_of(ticket)["response"].stopped_at == T0 + timedelta(minutes=30)  # stays stopped
    with clock_at(T0 + timedelta(hours=6)):
        do_transition_ticket(ticket, "resolved", actor=agent, resolution="Replaced the roller")
    assert clocks_of(ticket)["resolution"].state == ClockState.MET


def test_cancelling_stops_every_clock(make_ticket, agent, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
        do_transition_ticket(ticket, "pending_vendor", actor=agent)
    with clock_at(T0 + timedelta(minutes=5)):
        do_transition_ticket(ticket, "cancelled", actor=agent)
    assert {clock.state for clock in clocks_of(ticket).values()} == {ClockState.MET}
    assert not SLAPause.objects.filter(ticket=ticket, ended_at__isnull=True).exists()


def test_a_priority_change_retargets_the_clocks_from_the_start(make_ticket, agent, clock_at, policies):
    with clock_at(T0):
        ticket = make_ticket()  # medium: 2 h / 8 h
    with clock_at(T0 + timedelta(minutes=10)):
        do_change_priority(ticket, actor=agent, priority="critical", reason="whole floor down")
    clocks = clocks_of(ticket)
    assert clocks["response"].due_at == T0 + timedelta(minutes=15)
    assert clocks["resolution"].due_at == T0 + timedelta(hours=2)
    assert clocks["resolution"].policy == policies["critical"]
    event = AutomationEvent.objects.get(
        action="sla.retargeted", subject_id=str(ticket.pk), before__metric="resolution"
    )
    assert event.actor == "system:sla"
    assert event.before["due_at"] == (T0 + timedelta(hours=8)).isoformat()
    assert event.after["due_at"] == (T0 + timedelta(hours=2)).isoformat()


def test_lowering_the_priority_can_clear_a_breach(make_ticket, agent, clock_at, policies):
    from sla.sweep import run_sweep

    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=20)):
        run_sweep(risk=False)
        assert clocks_of(ticket)["response"].state == ClockState.BREACHED
        do_change_priority(ticket, actor=agent, priority="low", reason="one user only")
    response = clocks_of(ticket)["response"]
    assert (response.state, response.breached_at, response.due_at) == (
        ClockState.ON_TRACK,
        None,
        T0 + timedelta(hours=4),
    )


def test_editing_the_category_or_type_retargets(make_ticket, agent, clock_at, calendar_24x7, policies):
    SLAPolicy.objects.create(
        name="Medium requests",
        priority="medium",
        ticket_type="service_request",
        response_minutes=480,
        resolution_minutes=2880,
        calendar=calendar_24x7,
    )
    with clock_at(T0):
        ticket = make_ticket()
    with clock_at(T0 + timedelta(minutes=1)):
        do_update_ticket(ticket, actor=agent, fields={"type": "service_request"})
    assert clocks_of(ticket)["resolution"].due_at == T0 + timedelta(hours=48)


def test_a_retried_ticket_created_signal_changes_nothing(make_ticket, policies):
    from sla.actions import do_start_clocks

    ticket = make_ticket()
    before = list(TicketSLA.objects.filter(ticket=ticket).values_list("pk", "due_at"))
    do_start_clocks(ticket)
    assert list(TicketSLA.objects.filter(ticket=ticket).values_list("pk", "due_at")) == before


def test_remote_clocks_keep_their_due_time_through_local_rules(make_ticket, agent, clock_at, policies):
    from sla.actions import apply_remote_clock

    with clock_at(T0):
        ticket = make_ticket()
        apply_remote_clock(ticket, metric="resolution", due_at=T0 + timedelta(hours=3))
    with clock_at(T0 + timedelta(minutes=5)):
        do_change_priority(ticket, actor=agent, priority="critical", reason="escalated by customer")
    clocks = clocks_of(ticket)
    assert clocks["resolution"].source == ClockSource.JIRA
    assert clocks["resolution"].due_at == T0 + timedelta(hours=3)
    assert clocks["response"].due_at == T0 + timedelta(minutes=15)  # the local one follows the priority
