"""The rules of the SLA models themselves, each pinned on small hand-made cases: policy matching,
targets, escalation chains, working periods, and a clock's status, settling and recompute."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from itsm.models import Team
from sla.business_time import Schedule
from sla.models import (
    ClockState,
    EscalationStep,
    Holiday,
    PauseReason,
    SLAPause,
    SLAPolicy,
    StepAction,
    TicketSLA,
    TierMultiplier,
    WorkingPeriod,
    best_policy,
    check_escalation_chain,
    policy_matches,
    policy_specificity,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
ALWAYS = Schedule.around_the_clock()


def policy(name="p", priority="high", ticket_type="", category_id=None, organisation_id=None):
    return SimpleNamespace(
        name=name,
        priority=priority,
        ticket_type=ticket_type,
        category_id=category_id,
        organisation_id=organisation_id,
    )


TICKET = SimpleNamespace(priority="high", type="incident", category_id=7, organisation_id=3)


def test_a_policy_matches_on_priority_and_each_criterion_blank_or_equal():
    assert policy_matches(policy(), TICKET)
    assert not policy_matches(policy(priority="low"), TICKET)
    assert policy_matches(policy(ticket_type="incident", category_id=7, organisation_id=3), TICKET)
    assert not policy_matches(policy(ticket_type="service_request"), TICKET)
    assert not policy_matches(policy(category_id=8), TICKET)
    assert not policy_matches(policy(organisation_id=4), TICKET)


def test_the_most_specific_policy_wins_and_the_first_on_a_tie():
    assert policy_specificity(policy()) == 0
    assert policy_specificity(policy(ticket_type="incident")) == 1
    assert policy_specificity(policy(category_id=7)) == 2
    assert policy_specificity(policy(organisation_id=3)) == 4
    assert policy_specificity(policy(ticket_type="incident", category_id=7, organisation_id=3)) == 7
    by_type = policy("type", ticket_type="incident")
    by_category = policy("category", category_id=7)
    by_organisation = policy("organisation", organisation_id=3)
    both = policy("type and category", ticket_type="incident", category_id=7)
    assert best_policy([by_type, by_category], TICKET) is by_category
    assert best_policy([by_organisation, both], TICKET) is by_organisation
    assert best_policy([policy("a"), policy("b")], TICKET).name == "a"
    assert best_policy([policy(priority="low")], TICKET) is None
    assert best_policy([], TICKET) is None


def test_a_target_in_working_seconds_scaled_by_the_tier():
    rule = SLAPolicy(response_minutes=30, resolution_minutes=240)
    assert rule.target_seconds("response") == 1800
    assert rule.target_seconds("resolution") == 14400
    assert rule.target_seconds("resolution", Decimal("0.5")) == 7200
    assert rule.target_seconds("response", Decimal("0.0001")) == 1  # never nil


def test_the_resolution_target_cannot_be_shorter_than_the_response_one():
    with pytest.raises(ValidationError) as refused:
        SLAPolicy(priority="high", response_minutes=60, resolution_minutes=59, is_active=False).clean()
    assert list(refused.value.message_dict) == ["resolution_minutes"]
    SLAPolicy(priority="high", response_minutes=60, resolution_minutes=60, is_active=False).clean()
    SLAPolicy(priority="high", response_minutes=None, resolution_minutes=59, is_active=False).clean()


def test_a_step_describes_itself_and_needs_its_role_or_team():
    team = Team(pk=5, name="Network")
    role_step = EscalationStep(position=1, action=StepAction.NOTIFY_ROLE, role="admin", after_minutes=15)
    assert role_step.describe() == "Notify everyone with a role: Admin (+15 min)"
    assert str(role_step) == "1. Notify everyone with a role: Admin (+15 min)"
    team_step = EscalationStep(position=2, action=StepAction.REASSIGN_TEAM, team=team, after_minutes=30)
    assert team_step.describe() == "Reassign to a team: Network (+30 min)"
    notify = EscalationStep(position=3, action=StepAction.NOTIFY_TEAM, team=team)
    assert notify.describe() == "Notify a team: Network (+0 min)"
    lead = EscalationStep(position=4, action=StepAction.NOTIFY_TEAM_LEAD, role="admin", team=team)
    assert lead.describe() == "Notify the assignee's team lead (+0 min)"
    with pytest.raises(ValidationError, match="role"):
        EscalationStep(action=StepAction.NOTIFY_ROLE).clean()
    for action in (StepAction.NOTIFY_TEAM, StepAction.REASSIGN_TEAM):
        with pytest.raises(ValidationError, match="team"):
            EscalationStep(action=action).clean()
    role_step.clean()
    team_step.clean()
    EscalationStep(action=StepAction.RAISE_PRIORITY).clean()


def test_a_chain_has_unique_positions_and_never_a_later_step_due_sooner():
    def step(position, after):
        return EscalationStep(position=position, after_minutes=after, action=StepAction.RAISE_PRIORITY)

    check_escalation_chain([step(2, 30), step(1, 30), step(3, 60)])  # equal delays are fine
    check_escalation_chain([])
    with pytest.raises(ValidationError) as refused:
        check_escalation_chain([step(1, 10), step(1, 20)])
    assert refused.value.messages == ["Two escalation steps have the same order."]
    with pytest.raises(ValidationError) as refused:
        check_escalation_chain([step(2, 10), step(1, 20)])
    assert refused.value.messages == [
        "Step 2 is due 10 minutes after the breach, sooner than step 1 (20 minutes): order the steps by their delay."
    ]


def test_a_working_period_ends_after_it_starts_or_at_midnight():
    WorkingPeriod(weekday=0, start=time(9), end=time(17)).clean()
    midnight = WorkingPeriod(weekday=0, start=time(18), end=time(0))
    midnight.clean()
    assert midnight.end_or_midnight is None
    assert WorkingPeriod(weekday=0, start=time(9), end=time(17)).end_or_midnight == time(17)
    for end in (time(9), time(8)):
        with pytest.raises(ValidationError, match="must end after it starts"):
            WorkingPeriod(weekday=0, start=time(9), end=end).clean()
    WorkingPeriod(weekday=0, start=None, end=time(8)).clean()  # the form reports the missing field
    assert str(WorkingPeriod(weekday=1, start=time(9), end=time(17, 30))) == "Tuesday 09:00–17:30"


def test_small_labels_and_durations():
    assert str(Holiday(date=T0.date(), name="")) == "2026-03-02"
    assert str(Holiday(date=T0.date(), name="Spring")) == "2026-03-02 Spring"
    assert SLAPause(started_at=T0).duration is None
    assert SLAPause(started_at=T0, ended_at=T0 + timedelta(minutes=5)).duration == timedelta(minutes=5)


@pytest.mark.django_db
def test_a_tier_multiplier_from_the_table_else_the_default():
    assert TierMultiplier.for_tier(None) == TierMultiplier.for_tier("") == Decimal("1")
    assert TierMultiplier.for_tier("unknown") == Decimal("1")
    TierMultiplier.objects.update_or_create(tier="enterprise", defaults={"multiplier": Decimal("0.25")})
    assert TierMultiplier.for_tier("enterprise") == Decimal("0.25")
    TierMultiplier.objects.filter(tier="free").delete()
    assert TierMultiplier.for_tier("free") == Decimal("1.50")


def clock(**fields):
    values = {
        "metric": "resolution",
        "started_at": T0,
        "target_seconds": 3600,
        "warning_threshold_percent": 25,
        "state": ClockState.ON_TRACK,
    }
    values.update(fields)
    return TicketSLA(**values)


def test_the_status_word_of_a_clock():
    due, warn = T0 + timedelta(hours=1), T0 + timedelta(minutes=45)
    assert clock().status_at(T0) == "unknown"
    running = clock(due_at=due, warn_at=warn)
    assert running.is_running and not running.is_paused and not running.is_stopped
    assert running.status_at(warn - timedelta(seconds=1)) == "ok"
    assert running.status_at(warn) == "at_risk"
    assert running.status_at(due) == "breached"
    assert clock(due_at=due).status_at(due - timedelta(seconds=1)) == "ok"  # no warning time
    paused = clock(due_at=due, warn_at=warn, paused_since=T0)
    assert paused.is_paused and not paused.is_running
    assert paused.status_at(due + timedelta(hours=1)) == "paused"
    assert clock(due_at=due, stopped_at=due).status_at(due) == "completed"
    assert clock(due_at=due, stopped_at=due + timedelta(seconds=1)).status_at(due) == "breached"
    stopped = clock(due_at=due, stopped_at=T0, breached_at=T0, paused_since=T0)
    assert stopped.status_at(T0) == "breached"
    assert stopped.is_stopped and not stopped.is_paused and not stopped.is_running


def test_the_seconds_left_freeze_while_paused_or_stopped():
    due = T0 + timedelta(hours=1)
    assert clock().remaining_seconds(T0) is None
    assert clock(due_at=due).remaining_seconds(T0 + timedelta(minutes=10)) == 3000
    assert clock(due_at=due).remaining_seconds(due + timedelta(minutes=1)) == -60
    paused = clock(due_at=due, paused_since=T0 + timedelta(minutes=20))
    assert paused.remaining_seconds(due + timedelta(hours=5)) == 2400
    stopped = clock(
        due_at=due, paused_since=T0 + timedelta(minutes=20), stopped_at=T0 + timedelta(minutes=30)
    )
    assert stopped.remaining_seconds(due + timedelta(hours=5)) == 1800


def test_the_elapsed_share_in_working_time():
    assert clock(target_seconds=0).elapsed_fraction(T0 + timedelta(hours=1), ALWAYS) == 0.0
    assert clock().elapsed_fraction(T0 + timedelta(minutes=30), ALWAYS) == 0.5
    assert clock(paused_business_seconds=600).elapsed_fraction(
        T0 + timedelta(minutes=30), ALWAYS
    ) == pytest.approx(1200 / 3600)
    assert (
        clock(paused_since=T0 + timedelta(minutes=15)).elapsed_fraction(T0 + timedelta(hours=9), ALWAYS)
        == 0.25
    )
    assert (
        clock(stopped_at=T0 + timedelta(minutes=6)).elapsed_fraction(T0 + timedelta(hours=9), ALWAYS) == 0.1
    )
    assert clock(paused_business_seconds=9999).elapsed_fraction(T0 + timedelta(minutes=1), ALWAYS) == 0.0


def pause(reason, start_minutes, end_minutes=None):
    return SLAPause(
        reason=reason,
        started_at=T0 + timedelta(minutes=start_minutes),
        ended_at=None if end_minutes is None else T0 + timedelta(minutes=end_minutes),
    )


def test_recompute_adds_the_closed_pauses_to_the_due_and_warning_times():
    now = T0 + timedelta(minutes=50)
    sla = clock()
    sla.recompute(now=now, schedule=ALWAYS, pauses=[pause(PauseReason.PENDING_CUSTOMER, -30, 10)])
    # The pause counts from the clock's start (10 minutes), not from its own start.
    assert (sla.paused_seconds, sla.paused_business_seconds, sla.paused_since) == (600, 600, None)
    assert sla.due_at == T0 + timedelta(minutes=70)
    assert sla.warn_at == T0 + timedelta(minutes=55)  # 75 % of the target, plus the pause
    assert (sla.state, sla.updated_at) == (ClockState.ON_TRACK, now)


def test_recompute_pauses_the_response_clock_only_while_pending():
    resolved = [pause(PauseReason.RESOLVED, 10, 20)]
    response = clock(metric="response")
    response.recompute(now=T0 + timedelta(minutes=30), schedule=ALWAYS, pauses=resolved)
    assert (response.paused_seconds, response.due_at) == (0, T0 + timedelta(hours=1))
    resolution = clock()
    resolution.recompute(now=T0 + timedelta(minutes=30), schedule=ALWAYS, pauses=resolved)
    assert (resolution.paused_seconds, resolution.due_at) == (600, T0 + timedelta(minutes=70))


def test_recompute_keeps_an_open_pending_pause_open():
    sla = clock()
    sla.recompute(
        now=T0 + timedelta(minutes=30), schedule=ALWAYS, pauses=[pause(PauseReason.PENDING_VENDOR, 20)]
    )
    assert (sla.paused_since, sla.state, sla.paused_seconds) == (
        T0 + timedelta(minutes=20),
        ClockState.PAUSED,
        0,
    )
    early = clock()
    early.recompute(
        now=T0 + timedelta(minutes=30), schedule=ALWAYS, pauses=[pause(PauseReason.PENDING_VENDOR, -5)]
    )
    assert early.paused_since == T0  # not before the clock started
    # An open resolution pause does not mark the clock paused (it is stopped meanwhile).
    reopened = clock()
    reopened.recompute(
        now=T0 + timedelta(minutes=30), schedule=ALWAYS, pauses=[pause(PauseReason.RESOLVED, 20)]
    )
    assert reopened.paused_since is None
    stopped = clock(stopped_at=T0 + timedelta(minutes=25))
    stopped.recompute(
        now=T0 + timedelta(minutes=30), schedule=ALWAYS, pauses=[pause(PauseReason.PENDING_VENDOR, 20)]
    )
    assert (stopped.paused_since, stopped.state) == (None, ClockState.MET)


def test_recompute_counts_a_pause_only_up_to_the_stop():
    sla = clock(stopped_at=T0 + timedelta(minutes=30))
    sla.recompute(
        now=T0 + timedelta(hours=3),
        schedule=ALWAYS,
        pauses=[pause(PauseReason.PENDING_CUSTOMER, 20, 120), pause(PauseReason.PENDING_CUSTOMER, 40, 50)],
    )
    assert sla.paused_seconds == 600
    assert sla.due_at == T0 + timedelta(minutes=70)


def test_settling_a_stopped_clock():
    due = T0 + timedelta(hours=1)
    late = clock(due_at=due, stopped_at=due + timedelta(seconds=1), next_escalation_at=due)
    late.settle(due + timedelta(hours=1))
    assert (late.state, late.breached_at, late.next_escalation_at) == (ClockState.BREACHED, due, None)
    exactly = clock(due_at=due, stopped_at=due)
    exactly.settle(due)
    assert (exactly.state, exactly.breached_at) == (ClockState.MET, None)  # stopped at the due time: met
    on_time = clock(due_at=due, stopped_at=due, breached_at=T0)  # a re-target gave it more time
    on_time.settle(due)
    assert (on_time.state, on_time.breached_at) == (ClockState.MET, None)
    kept = clock(due_at=due, stopped_at=due + timedelta(minutes=5), breached_at=T0)
    kept.settle(due)
    assert (kept.state, kept.breached_at) == (ClockState.BREACHED, T0)


def test_settling_a_running_clock():
    due, warn = T0 + timedelta(hours=1), T0 + timedelta(minutes=45)
    policy_row = SLAPolicy(pk=1, name="p")
    breached = clock(
        due_at=due, warn_at=warn, breached_at=due, state=ClockState.BREACHED, next_escalation_at=due
    )
    breached.settle(due)
    assert (breached.state, breached.next_escalation_at) == (ClockState.BREACHED, due)
    unclaimed = clock(due_at=due, warn_at=warn, next_escalation_at=due, escalation_policy=policy_row)
    unclaimed.settle(due)  # the sweep claims the breach and records it
    assert (unclaimed.state, unclaimed.next_escalation_at, unclaimed.escalation_policy) == (
        ClockState.ON_TRACK,
        None,
        None,
    )
    retargeted = clock(
        due_at=due, warn_at=warn, breached_at=T0, next_escalation_at=T0, escalation_policy=policy_row
    )
    retargeted.settle(T0 + timedelta(minutes=10))
    assert (retargeted.breached_at, retargeted.next_escalation_at, retargeted.escalation_policy) == (
        None,
        None,
        None,
    )
    assert retargeted.state == ClockState.ON_TRACK
    at_risk = clock(due_at=due, warn_at=warn, state=ClockState.AT_RISK)
    at_risk.settle(warn)
    assert at_risk.state == ClockState.AT_RISK
    at_risk.settle(warn - timedelta(seconds=1))  # a re-target moved the warning later
    assert at_risk.state == ClockState.ON_TRACK
    fresh = clock(due_at=due, warn_at=warn)
    fresh.settle(warn)  # only the sweep moves a clock into at-risk
    assert fresh.state == ClockState.ON_TRACK
