"""The runbooks KPIs: executions, the share run without a human, the success rate, rollbacks and
failed rollbacks, the time to approve — on a day of five executions with known outcomes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings

from itsm import kpis
from runbooks import actions
from runbooks.models import (
    ExecutionStatus,
    ExecutionStep,
    RollbackStatus,
    RunbookExecution,
    RunbookSettings,
)

pytestmark = pytest.mark.django_db

MANUAL = [{"name": "Restart it", "type": "manual", "instructions": "By hand"}]
NAMES = [
    "runbook_executions",
    "runbook_auto_run_share",
    "runbook_success_rate",
    "runbook_rollbacks",
    "runbook_rollback_failed",
    "runbook_approval_minutes",
]
DAY = date(2026, 3, 2)


def at(hour, minute=0, day=DAY):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(settings.TIME_ZONE))


def finish(execution, status, at_time, rolled_back=None):
    RunbookExecution.objects.filter(pk=execution.pk).update(status=status, finished_at=at_time)
    if rolled_back:
        ExecutionStep.objects.filter(execution=execution).update(rollback_status=rolled_back)


@pytest.fixture
def day_of_runs(make_runbook, make_ticket, team, other_team, agent, lead):
    """Five executions on DAY: A, B, C approved after 30, 90 and 10 minutes and then succeeded,
    rolled back, failed to roll back; D run by auto mode (no approval), succeeded; E rejected.
    D and E are on another team's tickets."""
    runbook = make_runbook(MANUAL)
    safe = make_runbook(MANUAL, name="Safe check", needs_approval=False, safe_for_auto=True)
    tickets = [make_ticket(f"Restart {n}", team=team) for n in "ABC"]
    tickets += [make_ticket(f"Restart {n}", team=other_team) for n in "DE"]
    settings_row = RunbookSettings.load()
    settings_row.mode, settings_row.threshold = "auto", 0.0
    settings_row.save()
    with time_machine.travel(at(9), tick=False):
        d = actions.do_request_execution(tickets[3], safe, actor=None)
    assert d.status == ExecutionStatus.QUEUED
    finish(d, ExecutionStatus.SUCCEEDED, at(9, 5))
    with time_machine.travel(at(10), tick=False):
        a, b, c, e = (actions.do_request_execution(tickets[i], runbook, actor=agent) for i in (0, 1, 2, 4))
    for execution, minutes in ((a, 30), (b, 90), (c, 10)):
        with time_machine.travel(at(10) + timedelta(minutes=minutes), tick=False):
            actions.do_decide_execution(execution, actor=lead, approve=True, comment="go")
    with time_machine.travel(at(10, 20), tick=False):
        actions.do_decide_execution(e, actor=lead, approve=False, comment="no")
    finish(a, ExecutionStatus.SUCCEEDED, at(12))
    finish(b, ExecutionStatus.FAILED, at(12), rolled_back=RollbackStatus.SUCCEEDED)
    finish(c, ExecutionStatus.ROLLBACK_FAILED, at(12), rolled_back=RollbackStatus.FAILED)
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_the_day_in_figures(day_of_runs):
    result = kpis.compute(NAMES, *kpis.day_bounds(DAY, DAY), user=None)
    assert result.value("runbook_executions") == 5
    assert result.value("runbook_auto_run_share") == pytest.approx(1 / 5)
    # Ran: A, B, C, D (E was rejected): two succeeded.
    assert result.value("runbook_success_rate") == pytest.approx(2 / 4)
    assert result.value("runbook_rollbacks") == 2
    assert result.value("runbook_rollback_failed") == 1
    # 10, 30, 90 minutes (the rejection is no approval): p90 = 30 + 0.8 × 60.
    assert result.value("runbook_approval_minutes") == {"mean": 43.33, "median": 30.0, "p90": 78.0}


def test_grouped_by_the_tickets_team_and_by_day(day_of_runs, team, other_team):
    by_team = kpis.compute(NAMES, *kpis.day_bounds(DAY, DAY), "team", user=None)
    assert by_team.value("runbook_executions", group=team.name) == 3
    assert by_team.value("runbook_executions", group=other_team.name) == 2
    assert by_team.value("runbook_auto_run_share", group=other_team.name) == pytest.approx(0.5)
    assert by_team.value("runbook_success_rate", group=other_team.name) == 1.0
    assert by_team.value("runbook_rollbacks", group=other_team.name) == 0
    assert by_team.value("runbook_approval_minutes", group=team.name)["median"] == 30.0
    by_day = kpis.compute(
        ["runbook_executions"], *kpis.day_bounds(DAY - timedelta(days=1), DAY), user=None, interval="day"
    )
    assert [row.values["runbook_executions"] for row in by_day.rows] == [0, 5]


def test_a_day_without_runs_counts_zero_and_measures_nothing(day_of_runs):
    before = kpis.compute(
        NAMES, *kpis.day_bounds(DAY - timedelta(days=3), DAY - timedelta(days=1)), user=None
    )
    assert before.value("runbook_executions") == 0 and before.value("runbook_rollbacks") == 0
    assert before.value("runbook_success_rate") is None
    assert before.value("runbook_auto_run_share") is None
    assert before.value("runbook_approval_minutes") is None


def test_each_figure_is_one_query(day_of_runs, django_assert_max_num_queries):
    kpis.compute(NAMES, *kpis.day_bounds(DAY, DAY), user=None)  # content types cached
    with django_assert_max_num_queries(3):  # requested, finished, approval time
        kpis.compute(NAMES, *kpis.day_bounds(DAY, DAY), user=None)
