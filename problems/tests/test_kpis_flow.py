"""KPIs problems_opened, problems_resolved and incidents_per_problem (set-based SQL)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from itsm import kpis
from problems import actions
from problems.models import ProblemStatus

pytestmark = pytest.mark.django_db

NAMES = ["problems_opened", "problems_resolved", "incidents_per_problem"]


def test_problems_opened_resolved_and_their_incidents(make_ticket, agent, team, other_team):
    now = timezone.now()
    with time_machine.travel(now - timedelta(days=20), tick=False):
        old = actions.do_create_problem(
            actor=agent, title="Old cause", team=team, incidents=[make_ticket("a")]
        )
    vpn = actions.do_create_problem(
        actor=agent,
        title="VPN drops",
        team=team,
        incidents=[make_ticket("b"), make_ticket("c"), make_ticket("d")],
    )
    mail = actions.do_create_problem(
        actor=agent, title="Mail slow", team=other_team, incidents=[make_ticket("e")]
    )
    twin = actions.do_create_problem(
        actor=agent, title="Mail slow too", team=other_team, incidents=[make_ticket("f")]
    )
    actions.do_merge_problems(twin, into=mail, actor=agent)  # mail now has 2 incidents, twin none
    actions.do_transition_problem(old, ProblemStatus.RESOLVED, actor=agent, fix="Patched")
    actions.do_transition_problem(vpn, ProblemStatus.RESOLVED, actor=agent, fix="New firmware")
    actions.do_transition_problem(vpn, ProblemStatus.INVESTIGATING, actor=agent)  # came back: not resolved

    week = kpis.compute(NAMES, now - timedelta(days=7), now + timedelta(minutes=1), user=None)
    assert week.value("problems_opened") == 3  # vpn, mail, twin (merged, still opened)
    assert week.value("problems_resolved") == 1  # old: opened before, resolved now
    # vpn 3 + mail 2 over two problems (twin left out: its incidents moved).
    assert week.value("incidents_per_problem") == pytest.approx(2.5)

    by_team = kpis.compute(NAMES, now - timedelta(days=7), now + timedelta(minutes=1), "team", user=None)
    values = {row.label: row.values for row in by_team.rows}
    assert values[team.name] == {"problems_opened": 1, "problems_resolved": 1, "incidents_per_problem": 3.0}
    assert values[other_team.name] == {
        "problems_opened": 2,
        "problems_resolved": 0,
        "incidents_per_problem": 2.0,
    }

    month = kpis.compute(NAMES, now - timedelta(days=30), now - timedelta(days=10), user=None)
    assert month.value("problems_opened") == 1 and month.value("problems_resolved") == 0
    assert month.value("incidents_per_problem") == 1.0
    empty = kpis.compute(NAMES, now - timedelta(days=60), now - timedelta(days=50), user=None)
    assert empty.value("problems_opened") == 0 and empty.value("incidents_per_problem") is None


def test_a_team_filter_keeps_its_problems_only(make_ticket, agent, team, other_team):
    actions.do_create_problem(actor=agent, title="VPN drops", team=team, incidents=[make_ticket("b")])
    actions.do_create_problem(actor=agent, title="Mail slow", team=other_team)
    now = timezone.now()
    result = kpis.compute(
        NAMES, now - timedelta(days=1), now + timedelta(minutes=1), user=None, filters={"team": team.name}
    )
    assert result.value("problems_opened") == 1 and result.value("incidents_per_problem") == 1.0
