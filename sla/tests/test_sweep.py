"""The sweep: at-risk and breach exactly once, notifications, escalation in order, dry runs,
parallel sweeps, resuming after a crash."""

from __future__ import annotations

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.urls import include, path

from itsm.models import AutomationEvent, Notification, Role
from sla import signals
from sla.models import ClockState, EscalationStep, SLAEvent, SLAPolicy, SLARiskEvaluation, TicketSLA
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
    assert notification_event.level == 0
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


def actions_of(report) -> set[tuple[str, int, int, str]]:
    return {(action.action, action.clock_id, action.level, action.step) for action in report.actions}


def clock_of(ticket, metric: str) -> TicketSLA:
    return TicketSLA.objects.get(ticket=ticket, metric=metric)


def test_the_dry_run_and_the_live_sweep_select_the_same_clocks(
    make_ticket, agent, team, lead, clock_at, policies
):
    """Both read one set of QuerySets: on the same data they pick the same clocks for the same actions."""
    from tickets.actions import do_add_comment, do_transition_ticket

    now = T0 + timedelta(minutes=16)
    with clock_at(T0 - timedelta(minutes=90)):
        escalating = critical(make_ticket, title="Escalating", assignee=agent, team=team)
    with clock_at(T0 - timedelta(minutes=70)):
        run_sweep(risk=False)  # its response breached 5 minutes ago: step 1 taken, step 2 due at T0-15
    with clock_at(T0):
        breaching = critical(make_ticket, title="Breaching", assignee=agent, team=team)
        critical(make_ticket, title="Paused", assignee=agent, team=team)
        make_ticket(title="Medium, on track", assignee=agent, team=team)
        answered = critical(make_ticket, title="Answered", assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=1)):
        due_now = critical(make_ticket, title="Due exactly now", assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=3, seconds=15)):
        at_risk_now = critical(make_ticket, title="At risk exactly now", assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=2)):
        do_add_comment(answered, actor=agent, body="On it")
    with clock_at(T0 + timedelta(minutes=5)):
        do_transition_ticket(Ticket.objects.get(title="Paused"), "pending_customer", actor=agent)
    lead_step = "Notify the assignee's team lead (+0 min)"
    admin_step = "Notify everyone with a role: Admin (+60 min)"
    expected = {
        ("at_risk", clock_of(at_risk_now, "response").pk, 0, ""),
        ("at_risk", clock_of(escalating, "resolution").pk, 0, ""),
        ("breach", clock_of(breaching, "response").pk, 0, ""),
        ("breach", clock_of(due_now, "response").pk, 0, ""),
        ("escalate", clock_of(breaching, "response").pk, 1, lead_step),
        ("escalate", clock_of(due_now, "response").pk, 1, lead_step),
        ("escalate", clock_of(escalating, "response").pk, 2, admin_step),
    }
    with clock_at(now):
        dry = run_sweep(now=now, dry_run=True, risk=False)
        live = run_sweep(now=now, batch_size=1, risk=False)
        after = run_sweep(now=now, dry_run=True, risk=False)
    assert actions_of(dry) == actions_of(live) == expected
    assert (dry.warnings, dry.breaches, dry.escalations) == (live.warnings, live.breaches, live.escalations)
    assert (live.warnings, live.breaches, live.escalations) == (2, 2, 3)
    assert (after.warnings, after.breaches, after.escalations, after.actions) == (0, 0, 0, [])


def test_a_breach_on_a_ticket_without_a_team_is_recorded(make_ticket, agent, clock_at, policies):
    with clock_at(T0):
        nobodys = critical(make_ticket, title="Nobody's")
        agents = critical(make_ticket, title="Assigned, no team", assignee=agent)
    with clock_at(T0 + timedelta(minutes=16)):
        report = run_sweep(risk=False)
    assert (report.breaches, report.escalations) == (2, 2)
    assert set(SLAEvent.objects.filter(kind="breach").values_list("ticket_id", flat=True)) == {
        nobodys.pk,
        agents.pk,
    }
    assert list(
        Notification.objects.filter(verb="sla.breached").values_list("recipient__email", flat=True)
    ) == [agent.email]
    notified = SLAEvent.objects.get(kind="notification", cause="breach")
    assert (notified.ticket_id, notified.detail["recipients"]) == (agents.pk, [agent.email])
    outcomes = set(SLAEvent.objects.filter(kind="escalation").values_list("detail__outcome", flat=True))
    assert outcomes == {"no team lead to notify"}
    assert not Notification.objects.filter(verb="sla.escalated").exists()


def test_notify_the_team_lead_falls_back_on_a_team_of_the_assignee(
    make_ticket, agent, team, clock_at, policies
):
    """The ticket's team has no lead: the lead of the assignee's teams (the first by name) hears of it."""
    from conftest import make_user
    from itsm.models import Team

    zed = make_user("zed.lead@example.com", Role.AGENT)
    ada = make_user("ada.lead@example.com", Role.AGENT)
    Team.objects.create(name="Zeta operations", lead=zed).members.add(agent)
    Team.objects.create(name="Applications", lead=ada).members.add(agent)
    Team.objects.create(name="Aardvark desk, no lead").members.add(agent)
    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)
    escalation = SLAEvent.objects.get(kind="escalation", ticket=ticket, level=1)
    assert escalation.detail["outcome"] == "notified ada.lead@example.com"
    assert list(
        Notification.objects.filter(verb="sla.escalated").values_list("recipient__email", flat=True)
    ) == [ada.email]
    # The breach itself goes to the assignee only: the ticket's own team has no lead.
    assert list(
        Notification.objects.filter(verb="sla.breached").values_list("recipient__email", flat=True)
    ) == [agent.email]


def test_the_notify_team_step_notifies_the_active_members_of_its_team(
    make_ticket, agent, team, other_team, other_agent, clock_at, policies
):
    from conftest import make_user

    gone = make_user("gone.agent@example.com", Role.AGENT, is_active=False)
    other_team.members.add(gone)
    policy = policies["critical"]
    policy.escalation_steps.all().delete()
    EscalationStep.objects.create(
        policy=policy, position=1, after_minutes=0, action="notify_team", team=other_team
    )
    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        report = run_sweep(risk=False)
    assert report.escalations == 1
    escalation = SLAEvent.objects.get(kind="escalation", ticket=ticket)
    assert escalation.detail == {
        "step": "Notify a team: Network (+0 min)",
        "action": "notify_team",
        "outcome": "notified team Network",
    }
    assert list(
        Notification.objects.filter(verb="sla.escalated").values_list("recipient__email", flat=True)
    ) == [other_agent.email]
    sent = SLAEvent.objects.get(kind="notification", cause="escalation")
    assert (sent.level, sent.detail["recipients"]) == (1, [other_agent.email])


def test_warnings_are_taken_across_several_batches(make_ticket, agent, team, clock_at, policies):
    with clock_at(T0):
        tickets = [critical(make_ticket, title=f"Outage {n}", assignee=agent, team=team) for n in range(2)]
    with clock_at(T0 + timedelta(minutes=13)):
        report = run_sweep(batch_size=1, risk=False)
    assert report.warnings == 2
    assert {state_of(ticket, "response") for ticket in tickets} == {ClockState.AT_RISK}
    assert SLAEvent.objects.filter(kind="warning").count() == 2


def test_the_report_lists_the_actions_of_a_live_run(make_ticket, agent, team, lead, clock_at, policies):
    with clock_at(T0):
        breaching = critical(make_ticket, title="Breaching", assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=4)):
        at_risk = critical(make_ticket, title="At risk", assignee=agent, team=team)
    now = T0 + timedelta(minutes=17)
    with clock_at(now):
        report = run_sweep(risk=False)
    assert [
        (
            action.action,
            action.ticket_number,
            action.metric,
            action.clock_id,
            action.due_at,
            action.level,
            action.step,
        )
        for action in report.actions
    ] == [
        (
            "at_risk",
            at_risk.number,
            "response",
            clock_of(at_risk, "response").pk,
            (T0 + timedelta(minutes=19)).isoformat(),
            0,
            "",
        ),
        (
            "breach",
            breaching.number,
            "response",
            clock_of(breaching, "response").pk,
            (T0 + timedelta(minutes=15)).isoformat(),
            0,
            "",
        ),
        (
            "escalate",
            breaching.number,
            "response",
            clock_of(breaching, "response").pk,
            (T0 + timedelta(minutes=15)).isoformat(),
            1,
            "Notify the assignee's team lead (+0 min)",
        ),
    ]
    assert (report.dry_run, report.now, report.actions_truncated) == (False, now.isoformat(), False)
    assert report.as_dict()["actions"][0]["ticket_id"] == at_risk.pk


@pytest.mark.parametrize("dry_run", [True, False])
def test_the_report_lists_at_most_the_configured_number_of_actions(
    make_ticket, agent, team, clock_at, policies, settings, dry_run
):
    EscalationStep.objects.all().delete()
    with clock_at(T0):
        for n in range(3):
            critical(make_ticket, title=f"Outage {n}", assignee=agent, team=team)
    settings.SLA_REPORT_MAX_ACTIONS = 3
    with clock_at(T0 + timedelta(minutes=13)):
        exact = run_sweep(dry_run=True, risk=False)
    assert (exact.warnings, len(exact.actions), exact.actions_truncated) == (3, 3, False)
    settings.SLA_REPORT_MAX_ACTIONS = 2
    with clock_at(T0 + timedelta(minutes=13)):
        warned = run_sweep(dry_run=dry_run, risk=False)
    assert (warned.warnings, len(warned.actions), warned.actions_truncated) == (3, 2, True)
    assert {action.action for action in warned.actions} == {"at_risk"}
    with clock_at(T0 + timedelta(minutes=16)):
        breached = run_sweep(dry_run=dry_run, risk=False)
    assert (breached.breaches, len(breached.actions), breached.actions_truncated) == (3, 2, True)
    assert {action.action for action in breached.actions} == {"breach"}


def test_an_escalation_records_its_outcome_and_the_level_before_it(
    make_ticket, agent, team, lead, admin_user, clock_at, policies
):
    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)
    with clock_at(T0 + timedelta(minutes=76)):
        run_sweep(risk=False)
    events = list(SLAEvent.objects.filter(kind="escalation", ticket=ticket).order_by("level"))
    assert [(event.level, event.detail) for event in events] == [
        (
            1,
            {
                "step": "Notify the assignee's team lead (+0 min)",
                "action": "notify_team_lead",
                "outcome": f"notified {lead.email}",
            },
        ),
        (
            2,
            {
                "step": "Notify everyone with a role: Admin (+60 min)",
                "action": "notify_role",
                "outcome": "notified 1 user(s) with role admin",
            },
        ),
    ]
    audited = list(AutomationEvent.objects.filter(action="sla.escalated").order_by("pk"))
    assert [(event.before, event.after) for event in audited] == [
        (
            {"escalation_level": 0},
            {"escalation_level": 1, "step": "notify_team_lead", "outcome": f"notified {lead.email}"},
        ),
        (
            {"escalation_level": 1},
            {"escalation_level": 2, "step": "notify_role", "outcome": "notified 1 user(s) with role admin"},
        ),
    ]
    assert {event.reason for event in audited} == {
        f"{ticket.number}: response target breached, escalation step 1",
        f"{ticket.number}: response target breached, escalation step 2",
    }
    assert {(event.actor, event.subject_id) for event in audited} == {("system:sla", str(ticket.pk))}
    assert Notification.objects.get(verb="sla.escalated", recipient=admin_user).title == (
        f"{ticket.number}: response target breached, escalation step 2"
    )


def test_raising_the_priority_of_a_critical_ticket_records_that_it_already_is(
    make_ticket, agent, team, clock_at, policies
):
    policy = policies["critical"]
    policy.escalation_steps.all().delete()
    EscalationStep.objects.create(policy=policy, position=1, after_minutes=0, action="raise_priority")
    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        assert run_sweep(risk=False).escalations == 1
    event = AutomationEvent.objects.get(action="sla.escalated")
    assert (event.before, event.after) == (
        {"escalation_level": 0, "priority": "critical"},
        {
            "escalation_level": 1,
            "step": "raise_priority",
            "priority": "critical",
            "outcome": "already critical",
        },
    )
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.version) == ("critical", 1)


def test_a_reassignment_step_audits_the_team_and_assignee_before_it(
    make_ticket, agent, team, other_team, other_agent, clock_at, policies
):
    other_team.lead = other_agent
    other_team.save()
    policy = policies["critical"]
    policy.escalation_steps.all().delete()
    EscalationStep.objects.create(
        policy=policy, position=1, after_minutes=0, action="reassign_team", team=other_team
    )
    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)
    event = AutomationEvent.objects.get(action="sla.escalated")
    assert (event.before, event.after) == (
        {"escalation_level": 0, "team": team.name, "assignee": agent.email},
        {
            "escalation_level": 1,
            "step": "reassign_team",
            "team": other_team.name,
            "assignee": None,
            "outcome": "reassigned to team Network",
        },
    )
    assert list(
        Notification.objects.filter(verb="sla.escalated").values_list("recipient__email", flat=True)
    ) == [other_agent.email]
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (other_team.pk, None)


def test_a_chain_shortened_after_a_breach_leaves_no_clock_to_pick_up(
    make_ticket, agent, team, lead, clock_at, policies
):
    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)  # step 1 taken; step 2 is due an hour after the breach
    clock = clock_of(ticket, "response")
    assert (clock.escalation_level, clock.next_escalation_at) == (1, T0 + timedelta(minutes=75))
    policies["critical"].escalation_steps.filter(position=2).delete()
    later = T0 + timedelta(minutes=80)
    with clock_at(later):
        assert run_sweep(risk=False).escalations == 0
    clock.refresh_from_db()
    assert (clock.escalation_level, clock.next_escalation_at) == (1, None)
    assert not TicketSLA.objects.due_for_escalation(later + timedelta(days=1)).exists()
    with clock_at(later + timedelta(minutes=1)):
        run_sweep(risk=False)
    assert clock_of(ticket, "response").updated_at == later


def test_warnings_go_to_the_assignee_else_the_team_lead_else_the_team(
    make_ticket, agent, other_agent, team, lead, clock_at, policies
):
    team.members.add(other_agent)
    with clock_at(T0):
        assigned = critical(make_ticket, title="Assigned", assignee=agent, team=team)
        led = critical(make_ticket, title="Team with a lead", team=team)
    with clock_at(T0 + timedelta(minutes=13)):
        run_sweep(risk=False)
    recipients = {
        ticket.pk: set(
            Notification.objects.filter(verb="sla.at_risk", subject_id=str(ticket.pk)).values_list(
                "recipient__email", flat=True
            )
        )
        for ticket in (assigned, led)
    }
    assert recipients == {assigned.pk: {agent.email}, led.pk: {lead.email}}
    assert SLAEvent.objects.get(kind="warning", ticket=assigned).detail == {
        "metric": "response",
        "due_at": (T0 + timedelta(minutes=15)).isoformat(),
        "state": "at_risk",
    }
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)
    assert SLAEvent.objects.get(kind="breach", ticket=assigned).detail == {
        "metric": "response",
        "due_at": (T0 + timedelta(minutes=15)).isoformat(),
        "state": "breached",
    }
    breached = set(
        Notification.objects.filter(verb="sla.breached", subject_id=str(assigned.pk)).values_list(
            "recipient__email", flat=True
        )
    )
    assert breached == {agent.email, lead.email}


def test_the_advisory_risk_pass_follows_its_switch_and_batch(
    make_ticket, agent, team, clock_at, policies, settings
):
    with clock_at(T0):
        for n in range(2):
            make_ticket(title=f"Slow VPN {n}", assignee=agent, team=team)
    now = T0 + timedelta(minutes=5)
    settings.SLA_RISK_BATCH = 0
    with clock_at(now):
        assert run_sweep(dry_run=True).risk_evaluations == 0
        assert run_sweep().risk_evaluations == 0
    settings.SLA_RISK_BATCH = 1
    with clock_at(now):
        assert run_sweep(risk=False).risk_evaluations == 0
        assert not SLARiskEvaluation.objects.exists()
        assert run_sweep(dry_run=True).risk_evaluations == 1
        assert run_sweep().risk_evaluations == 1
    assert SLARiskEvaluation.objects.count() == 1


def test_the_report_times_the_run_in_milliseconds(make_ticket, clock_at, policies):
    from sla import sweep

    with mock.patch.object(sweep.time, "perf_counter", side_effect=[10.0, 10.123456]):
        report = run_sweep(now=T0, risk=False)
    assert report.duration_ms == 123.5


def test_a_raise_that_gives_the_clock_more_time_ends_its_chain(make_ticket, agent, team, clock_at, policies):
    """A raised priority re-targets the clock; when the new target is later than now (a policy
    with a longer target), the clock is no longer breached and no further step is scheduled."""
    from tickets.actions import do_add_comment

    medium, high = policies["medium"], policies["high"]
    SLAPolicy.objects.filter(pk=medium.pk).update(resolution_minutes=120)
    SLAPolicy.objects.filter(pk=high.pk).update(resolution_minutes=600)
    medium.escalation_steps.all().delete()
    EscalationStep.objects.bulk_create(
        [
            EscalationStep(
                policy=medium, position=1, after_minutes=0, action="raise_priority", metric="resolution"
            ),
            EscalationStep(
                policy=medium,
                position=2,
                after_minutes=30,
                action="notify_role",
                role="admin",
                metric="resolution",
            ),
        ]
    )
    with clock_at(T0):
        ticket = make_ticket(assignee=agent, team=team)
        do_add_comment(ticket, actor=agent, body="Looking")
    with clock_at(T0 + timedelta(hours=2, minutes=1)):
        assert run_sweep(risk=False).escalations == 1
    clock = clock_of(ticket, "resolution")
    assert (clock.state, clock.due_at, clock.next_escalation_at) == (
        ClockState.ON_TRACK,
        T0 + timedelta(hours=10),
        None,
    )
    with clock_at(T0 + timedelta(hours=3)):
        assert run_sweep(risk=False).escalations == 0


def test_a_reassignment_notifies_the_new_teams_lead_only(
    make_ticket, agent, team, other_team, other_agent, clock_at, policies
):
    from conftest import make_user

    other_team.members.add(make_user("nina.network@example.com", Role.AGENT))
    other_team.lead = other_agent
    other_team.save()
    policy = policies["critical"]
    policy.escalation_steps.all().delete()
    EscalationStep.objects.create(
        policy=policy, position=1, after_minutes=0, action="reassign_team", team=other_team
    )
    with clock_at(T0):
        critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)
    assert list(
        Notification.objects.filter(verb="sla.escalated").values_list("recipient__email", flat=True)
    ) == [other_agent.email]
    # Without a lead, the whole new team hears of it.
    other_team.lead = None
    other_team.save()
    with clock_at(T0 + timedelta(minutes=20)):
        critical(make_ticket, title="Second", assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=36)):
        run_sweep(risk=False)
    assert set(
        Notification.objects.filter(verb="sla.escalated", title__contains="escalation step 1")
        .exclude(recipient=other_agent)
        .values_list("recipient__email", flat=True)
    ) == {"nina.network@example.com"}


urlpatterns = [path("sla/", include("sla.urls"))]  # a site without the ticket pages (see below)


def test_notifications_link_to_the_sla_panel_when_the_ticket_pages_are_not_installed(
    make_ticket, agent, team, clock_at, policies
):
    from django.test import override_settings

    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=13)), override_settings(ROOT_URLCONF="sla.tests.test_sweep"):
        run_sweep(risk=False)
    assert Notification.objects.get(verb="sla.at_risk").url == f"/sla/ticket/{ticket.pk}/panel/"


@pytest.mark.django_db(transaction=True)
def test_a_clock_locked_by_a_ticket_edit_is_left_for_the_next_run(
    make_ticket, agent, team, lead, clock_at, policies
):
    from django.db import transaction

    with clock_at(T0):
        edited = critical(make_ticket, title="Being edited", assignee=agent, team=team)
        free = critical(make_ticket, title="Free", assignee=agent, team=team)
    holding, release = threading.Event(), threading.Event()

    def edit() -> None:
        try:
            with transaction.atomic():
                list(TicketSLA.objects.select_for_update().filter(ticket=edited))
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    editor = threading.Thread(target=edit)
    editor.start()
    assert holding.wait(timeout=10)
    now = T0 + timedelta(minutes=16)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting on the editor would fail, not hang
        report = run_sweep(now=now, risk=False)
    finally:
        release.set()
        editor.join(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert {action.ticket_number for action in report.actions} == {free.number}
    assert (state_of(edited, "response"), state_of(free, "response")) == (
        ClockState.ON_TRACK,
        ClockState.BREACHED,
    )
    later = run_sweep(now=now, risk=False)
    assert {(action.action, action.ticket_number) for action in later.actions} == {
        ("breach", edited.number),
        ("escalate", edited.number),
    }


@pytest.mark.django_db(transaction=True)
def test_an_escalation_due_on_a_ticket_being_edited_waits_for_the_next_run(
    make_ticket, agent, team, lead, clock_at, policies
):
    """The escalation pass locks the ticket with its clock, skipping a locked one: it never waits."""
    from django.db import transaction

    with clock_at(T0):
        ticket = critical(make_ticket, title="Being edited", assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)  # breached, step 1 taken; step 2 is due an hour after the breach
    holding, release = threading.Event(), threading.Event()

    def edit() -> None:
        try:
            with transaction.atomic():
                list(Ticket.objects.select_for_update().filter(pk=ticket.pk))
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    editor = threading.Thread(target=edit)
    editor.start()
    assert holding.wait(timeout=10)
    now = T0 + timedelta(minutes=80)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting on the editor would fail, not hang
        report = run_sweep(now=now, risk=False)
    finally:
        release.set()
        editor.join(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert report.escalations == 0
    assert clock_of(ticket, "response").escalation_level == 1
    assert run_sweep(now=now, risk=False).escalations == 1
    assert clock_of(ticket, "response").escalation_level == 2


def test_the_dry_run_stops_at_the_first_step_not_due_like_the_live_sweep(
    make_ticket, agent, team, lead, clock_at, policies
):
    """Steps run in order: a step stored out of order (sooner than the one before it, written
    around the chain's validation) waits for that one, in the dry run as in the live sweep."""
    EscalationStep.objects.create(
        policy=policies["critical"], position=3, after_minutes=30, action="notify_team_lead"
    )
    with clock_at(T0):
        critical(make_ticket, assignee=agent, team=team)
    now = T0 + timedelta(minutes=50)  # 35 minutes after the breach: step 2 (+60) is not due yet
    with clock_at(now):
        dry = run_sweep(now=now, dry_run=True, risk=False)
        live = run_sweep(now=now, risk=False)
    assert (dry.escalations, live.escalations) == (1, 1)
    assert actions_of(dry) == actions_of(live)
