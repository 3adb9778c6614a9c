"""The sweep: at-risk and breach exactly once, notifications, escalation in order, dry runs,
parallel sweeps, resuming after a crash."""

from __future__ import annotations

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection

from itsm.models import AutomationEvent, Notification, Role
from sla import signals
from sla.models import ClockState, EscalationStep, SLAEvent, SLARiskEvaluation, TicketSLA
from sla.sweep import run_sweep
from sla.tests.conftest import T0
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def critical(make_ticket, **fields):
    return make_ticket(impact="high", urgency="high", **fields)


def state_of(ticket, metric: str) -> str:
    return TicketSLA.objects.get(ticket=ticket, metric=metric).state


@pytest.fixture
def lead(team):
    from conftest import make_user

    user = make_user("lena.lead@example.com", Role.AGENT, full_name="Lena Lead")
    team.members.add(user)
    team.lead = user
    team.save()
    return user


@pytest.fixture
def received():
    """The SLA signals sent, as (name, kwargs) pairs."""
    calls: list[tuple[str, dict]] = []
    handlers = {}
    for name in ("sla_at_risk", "sla_breached", "sla_escalated"):

        def handler(sender, _name=name, **kwargs):
            calls.append((_name, kwargs))

        handlers[name] = handler
        getattr(signals, name).connect(handler)
    yield calls
    for name, handler in handlers.items():
        getattr(signals, name).disconnect(handler)


def test_it_warns_once_when_a_clock_crosses_into_at_risk(
    make_ticket, agent, team, clock_at, received, policies
):
    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=13)):
        first = run_sweep(risk=False)
        second = run_sweep(risk=False)
    assert (first.warnings, second.warnings) == (1, 0)
    assert state_of(ticket, "response") == ClockState.AT_RISK
    assert SLAEvent.objects.filter(kind="warning").count() == 1
    note = Notification.objects.get(recipient=agent, verb__startswith="sla.")
    assert (note.verb, note.title) == (
        "sla.at_risk",
        f"{ticket.number}: the first response target is at risk",
    )
    event = AutomationEvent.objects.get(action="sla.at_risk")
    assert (event.actor, event.before["state"], event.after["state"]) == ("system:sla", "on_track", "at_risk")
    assert str(event.trace_id) == first.trace_id
    assert [(name, kwargs["metric"], kwargs["trace_id"]) for name, kwargs in received] == [
        ("sla_at_risk", "response", first.trace_id)
    ]
    assert received[0][1]["ticket"].pk == ticket.pk
    assert received[0][1]["due_at"] == T0 + timedelta(minutes=15)


def test_it_breaches_once_and_notifies_the_assignee_and_team_lead(
    make_ticket,
    agent,
    team,
    lead,
    clock_at,
    received,
    policies,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    EscalationStep.objects.all().delete()
    with clock_at(T0 + timedelta(minutes=16)), django_capture_on_commit_callbacks() as callbacks:
        report = run_sweep(risk=False)
        run_sweep(risk=False)
    assert report.breaches == 1
    clock = TicketSLA.objects.get(ticket=ticket, metric="response")
    assert (clock.state, clock.breached_at) == (ClockState.BREACHED, T0 + timedelta(minutes=15))
    assert SLAEvent.objects.filter(kind="breach").count() == 1
    assert set(
        Notification.objects.filter(verb="sla.breached").values_list("recipient__email", flat=True)
    ) == {agent.email, lead.email}
    notification_event = SLAEvent.objects.get(kind="notification", cause="breach")
    assert sorted(notification_event.detail["recipients"]) == sorted([agent.email, lead.email])
    assert len(callbacks) == 2  # one email per recipient, deferred to the worker after commit
    assert [name for name, _kwargs in received] == ["sla_breached"]


def test_an_unassigned_ticket_warns_its_team(make_ticket, team, agent, other_agent, clock_at, policies):
    with clock_at(T0):
        critical(make_ticket, team=team)
    with clock_at(T0 + timedelta(minutes=13)):
        run_sweep(risk=False)
    assert list(
        Notification.objects.filter(verb="sla.at_risk").values_list("recipient__email", flat=True)
    ) == [agent.email]


def test_escalation_steps_run_in_order_each_once(
    make_ticket, agent, team, other_team, lead, admin_user, clock_at, received, policies
):
    policy = policies["medium"]
    policy.escalation_steps.all().delete()
    EscalationStep.objects.bulk_create(
        [
            EscalationStep(
                policy=policy, position=1, after_minutes=0, action="notify_team_lead", metric="resolution"
            ),
            EscalationStep(
                policy=policy, position=2, after_minutes=30, action="raise_priority", metric="resolution"
            ),
            EscalationStep(
                policy=policy,
                position=3,
                after_minutes=60,
                action="reassign_team",
                team=other_team,
                metric="resolution",
            ),
            EscalationStep(
                policy=policy,
                position=4,
                after_minutes=90,
                action="notify_role",
                role="admin",
                metric="resolution",
            ),
        ]
    )
    with clock_at(T0):
        ticket = make_ticket(assignee=agent, team=team)  # medium: resolution due in 8 h
        # Answered in time, so only the resolution clock breaches.
        from tickets.actions import do_add_comment

        do_add_comment(ticket, actor=agent, body="Working on it")
    due = T0 + timedelta(hours=8)
    with clock_at(due + timedelta(minutes=1)):
        assert run_sweep(risk=False).escalations == 1
    assert Notification.objects.filter(recipient=lead, verb="sla.escalated").count() == 1
    with clock_at(due + timedelta(minutes=31)):
        assert run_sweep(risk=False).escalations == 1
        assert run_sweep(risk=False).escalations == 0
    ticket.refresh_from_db()
    assert ticket.priority == "high"
    assert ticket.audit_events.filter(priority="high").latest("pgh_id").pgh_context["actor"] == "system:sla"
    # The raise re-targeted the clocks: high is 4 h, so the resolution clock is still breached.
    resolution = TicketSLA.objects.get(ticket=ticket, metric="resolution")
    assert resolution.due_at == T0 + timedelta(hours=4)
    assert resolution.state == ClockState.BREACHED
    with clock_at(due + timedelta(hours=3)):  # steps 3 and 4 are both due: taken in order
        assert run_sweep(risk=False).escalations == 2
    ticket.refresh_from_db()
    assert (ticket.team, ticket.assignee) == (other_team, None)
    assert Notification.objects.filter(recipient=admin_user, verb="sla.escalated").count() == 1
    levels = list(
        SLAEvent.objects.filter(kind="escalation")
        .order_by("created_at", "level")
        .values_list("level", "detail__action")
    )
    assert levels == [
        (1, "notify_team_lead"),
        (2, "raise_priority"),
        (3, "reassign_team"),
        (4, "notify_role"),
    ]
    assert [kwargs["level"] for name, kwargs in received if name == "sla_escalated"] == [1, 2, 3, 4]
    actions = list(
        AutomationEvent.objects.filter(action="sla.escalated")
        .order_by("pk")
        .values_list("after__step", flat=True)
    )
    assert actions == ["notify_team_lead", "raise_priority", "reassign_team", "notify_role"]
    with clock_at(due + timedelta(hours=10)):
        assert run_sweep(risk=False).escalations == 0
    assert TicketSLA.objects.get(ticket=ticket, metric="resolution").escalation_level == 4


def test_no_escalation_while_paused_or_after_resolution(make_ticket, agent, team, lead, clock_at, policies):
    from tickets.actions import do_transition_ticket

    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)  # response breached, step 1 (team lead) taken
        do_transition_ticket(ticket, "pending_customer", actor=agent)
    with clock_at(T0 + timedelta(hours=3)):
        report = run_sweep(risk=False)
    assert report.escalations == 0
    with clock_at(T0 + timedelta(hours=3, minutes=1)):
        do_transition_ticket(ticket, "resolved", actor=agent, resolution="fixed")
    with clock_at(T0 + timedelta(hours=9)):
        assert run_sweep(risk=False).escalations == 0


def test_a_dry_run_reports_and_changes_nothing(make_ticket, agent, team, lead, clock_at, policies):
    with clock_at(T0):
        first = critical(make_ticket, assignee=agent, team=team)
        second = make_ticket(title="VPN slow", assignee=agent, team=team)
    before = list(TicketSLA.objects.order_by("pk").values())
    with clock_at(T0 + timedelta(minutes=105)):
        report = run_sweep(dry_run=True)
    assert report.dry_run
    assert (report.warnings, report.breaches) == (
        2,
        1,
    )  # 2nd's response + 1st's resolution at risk; 1st's response
    assert report.escalations == 2  # team lead at once, admins after 60 minutes
    assert report.risk_evaluations == 2
    assert {(action.action, action.ticket_number) for action in report.actions} == {
        ("at_risk", second.number),
        ("at_risk", first.number),
        ("breach", first.number),
        ("escalate", first.number),
    }
    assert list(TicketSLA.objects.order_by("pk").values()) == before
    assert not SLAEvent.objects.exists()
    assert not SLARiskEvaluation.objects.exists()
    assert not Notification.objects.filter(verb__startswith="sla.").exists()
    assert not AutomationEvent.objects.filter(actor="system:sla").exists()
    with clock_at(T0 + timedelta(minutes=105)):
        real = run_sweep()
    assert (real.warnings, real.breaches, real.escalations, real.risk_evaluations) == (2, 1, 2, 2)


def test_a_crash_mid_sweep_is_resumed_by_the_next_run(make_ticket, agent, team, clock_at, policies):
    with clock_at(T0):
        tickets = [critical(make_ticket, title=f"Outage {n}", assignee=agent, team=team) for n in range(3)]
    EscalationStep.objects.all().delete()
    calls = {"n": 0}
    from sla import sweep

    real_announce = sweep._announce

    def crash_on_second_batch(clocks, **kwargs):
        calls["n"] += 1 if clocks else 0
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real_announce(clocks, **kwargs)

    with clock_at(T0 + timedelta(minutes=16)):
        with mock.patch.object(sweep, "_announce", crash_on_second_batch), pytest.raises(RuntimeError):
            run_sweep(batch_size=1, risk=False)
        # The first batch committed; the second rolled back whole (claim and event).
        assert TicketSLA.objects.filter(metric="response", state="breached").count() == 1
        assert SLAEvent.objects.filter(kind="breach").count() == 1
        resumed = run_sweep(batch_size=1, risk=False)
    assert resumed.breaches == 2
    assert SLAEvent.objects.filter(kind="breach").count() == 3
    assert Notification.objects.filter(verb="sla.breached").count() == 3
    assert {t.pk for t in tickets} == set(SLAEvent.objects.values_list("ticket_id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_in_parallel_act_once(make_ticket, agent, team, lead, clock_at, policies):
    with clock_at(T0):
        tickets = [critical(make_ticket, title=f"Outage {n}", assignee=agent, team=team) for n in range(12)]
    barrier = threading.Barrier(2)
    reports = []
    errors = []

    def sweep() -> None:
        try:
            barrier.wait(timeout=10)
            reports.append(run_sweep(now=T0 + timedelta(minutes=16), batch_size=2, risk=False))
        except Exception as error:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sum(report.breaches for report in reports) == len(tickets)
    assert sum(report.escalations for report in reports) == len(tickets)  # step 1 once per breached clock
    assert SLAEvent.objects.filter(kind="breach").count() == len(tickets)
    assert SLAEvent.objects.filter(kind="escalation").count() == len(tickets)
    assert Notification.objects.filter(verb="sla.breached", recipient=agent).count() == len(tickets)
    assert Notification.objects.filter(verb="sla.escalated", recipient=lead).count() == len(tickets)
    assert AutomationEvent.objects.filter(action="sla.breached").count() == len(tickets)
    assert Ticket.objects.count() == len(tickets)
