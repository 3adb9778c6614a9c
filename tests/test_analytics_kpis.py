"""KPI values against a desk whose answers are worked out by hand below."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine

from itsm import kpis
from itsm.analytics import snapshots
from itsm.models import KPISnapshot
from sla import business_time
from sla.models import Calendar, SLAPolicy, WorkingPeriod
from tickets import actions
from tickets.models import Category, TicketStatus

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # Monday 2 March 2026


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """``day`` 0 is Monday 2 March 2026."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def travel(moment: datetime):
    return time_machine.travel(moment, tick=False)


@pytest.fixture(autouse=True)
def _sla_defaults():
    from sla.defaults import ensure_defaults

    ensure_defaults()


@pytest.fixture
def desk(agent, requester, team, other_team):
    """Four tickets of the week of 2 March (requester's organisation: standard tier, so the
    default medium policy gives 120 min to respond and 480 min to resolve, 24×7):

    A  Mon 10:00, replied 10:30, resolved 14:00                      (team: Service Desk)
    B  Tue 09:00, replied 09:10, resolved 11:00, reopened 12:00, resolved Wed 09:00
    C  Tue 15:00, never answered, still open                         (team: Network)
    D  Thu 08:00, pending customer 09:00–12:00, resolved 18:00, no reply
    """
    tickets = {}

    def create(name: str, moment: datetime, owner=team):
        with travel(moment):
            tickets[name] = actions.do_create_ticket(
                actor=agent, requester=requester, title=f"Ticket {name}", team=owner
            )

    def reply(name: str, moment: datetime):
        with travel(moment):
            actions.do_add_comment(tickets[name], actor=agent, body="On it.")

    def move(name: str, moment: datetime, status: str, **extra):
        with travel(moment):
            tickets[name].refresh_from_db()
            actions.do_transition_ticket(tickets[name], status, actor=agent, **extra)

    create("A", at(0, 10))
    reply("A", at(0, 10, 30))
    move("A", at(0, 14), TicketStatus.RESOLVED, resolution="Fixed")
    create("B", at(1, 9))
    reply("B", at(1, 9, 10))
    move("B", at(1, 11), TicketStatus.RESOLVED, resolution="Fixed")
    with travel(at(1, 12)):
        tickets["B"].refresh_from_db()
        actions.do_reopen_ticket(tickets["B"], actor=agent, reason="still broken")
    move("B", at(2, 9), TicketStatus.RESOLVED, resolution="Fixed for good")
    create("C", at(1, 15), owner=other_team)
    create("D", at(3, 8))
    move("D", at(3, 9), TicketStatus.PENDING_CUSTOMER)
    move("D", at(3, 12), TicketStatus.OPEN)
    move("D", at(3, 18), TicketStatus.RESOLVED, resolution="Answered")
    return tickets


def week(names, group_by=None, **extra):
    with travel(at(7, 12)):
        return kpis.compute(names, at(0, 0), at(7, 0), group_by, user=None, **extra)


def test_it_computes_the_flow_kpis_of_the_week_as_worked_out_by_hand(desk):
    result = week(["tickets_created", "tickets_resolved", "reopen_rate", "fcr_rate", "tickets_per_agent"])
    assert result.value("tickets_created") == 4
    assert result.value("tickets_resolved") == 3  # A, B (its latest resolution), D
    assert result.value("reopen_rate") == pytest.approx(1 / 3, abs=1e-4)  # B
    # A: one agent reply, never reopened; B was reopened; D had no reply at all (0 <= 1).
    assert result.value("fcr_rate") == pytest.approx(2 / 3, abs=1e-4)
    assert result.value("tickets_per_agent") is None  # nobody was assigned: no agent to divide by


def test_mttr_runs_from_creation_to_the_latest_resolution_pauses_included(desk):
    mttr = week(["mttr_hours"]).value("mttr_hours")
    # A 4 h, B 24 h (Tue 09:00 → Wed 09:00), D 10 h (the pending spell counts: wall clock).
    assert mttr["mean"] == pytest.approx((4 + 24 + 10) / 3, abs=0.01)
    assert mttr["median"] == pytest.approx(10.0, abs=0.01)
    # percentile_cont over 4, 10, 24: p90 = 10 + 0.8 × (24 − 10)
    assert mttr["p90"] == pytest.approx(21.2, abs=0.01)


def test_first_response_is_measured_on_the_tickets_created_in_the_range(desk):
    frt = week(["frt_minutes"]).value("frt_minutes")
    assert frt == {"mean": 20.0, "median": 20.0, "p90": 28.0}  # A 30 min, B 10 min; C, D unanswered


def test_sla_met_rates_count_paused_time_out_of_the_clock(desk):
    result = week(["sla_response_met_rate", "sla_resolution_met_rate", "breaches"])
    # Resolution (480 min): A met (4 h); B breached (its clock ran 24 h less the 1 h it spent
    # resolved); D met: 10 h on the wall, but 3 h pending paused it, so 7 h < 8 h.
    assert result.value("sla_resolution_met_rate") == pytest.approx(2 / 3, abs=1e-4)
    # Response (120 min): A 30 min met, B 10 min met, D stopped at its resolution: 10 h − 3 h
    # paused = 7 h, breached. C is still running (no outcome yet).
    assert result.value("sla_response_met_rate") == pytest.approx(2 / 3, abs=1e-4)
    assert result.value("breaches") == 2


def test_the_whole_desk_counts_clocks_without_joining_tickets_as_the_groups_do(desk):
    names = ["breaches", "sla_response_met_rate", "sla_resolution_met_rate"]
    whole = week(names)
    by_team = week(names, "team")
    assert whole.value("breaches") == sum(row.values["breaches"] for row in by_team.rows) == 2
    assert by_team.value("sla_resolution_met_rate", group="Service Desk") == pytest.approx(2 / 3, abs=1e-4)


def test_triage_kpis_count_each_tickets_results_as_worked_out_by_hand(desk, other_team):
    from ai.triage.models import TriageResult

    def result(name, field, **values):
        TriageResult.objects.create(
            ticket=desk[name], field=field, confidence=0.9, method="model", model_version="m1",
            mode=values.pop("mode", "assist"), **values,
        )  # fmt: skip

    result("A", "category", status="accepted")
    result("A", "team", status="rejected")
    result("B", "category", mode="auto", applied=True, correct=True)
    result("C", "category", mode="auto", applied=True, correct=False)
    result("C", "team", status="accepted", applied=True)  # applied, not yet compared: not evaluated
    names = ["ai_triage_coverage", "ai_triage_acceptance_rate", "ai_auto_no_correction_rate"]
    whole = week(names)
    # A, B, C have predictions (D none); 2 accepted, 1 rejected; of 2 compared auto changes, B kept.
    assert whole.value("ai_triage_coverage") == 0.75
    assert whole.value("ai_triage_acceptance_rate") == pytest.approx(2 / 3, abs=1e-4)
    assert whole.value("ai_auto_no_correction_rate") == 0.5
    network = week(names, "team").value("ai_triage_coverage", group=other_team.pk)
    assert network == 1.0  # C
    assert week(names, "team").value("ai_triage_coverage", group="Service Desk") == pytest.approx(
        2 / 3, abs=1e-4
    )


def test_the_backlog_is_the_open_tickets_at_the_end_of_each_day(desk):
    with travel(at(7, 12)):
        result = kpis.compute(["backlog_open"], at(0, 0), at(4, 0), user=None, interval="day")
    by_day = {row.bucket: row.values["backlog_open"] for row in result.rows}
    # Mon: A resolved the same day → 0. Tue: B reopened (still open at midnight), C → 2.
    # Wed: B resolved → 1 (C). Thu: D resolved → 1.
    assert by_day == {date(2026, 3, 2): 0, date(2026, 3, 3): 2, date(2026, 3, 4): 1, date(2026, 3, 5): 1}
    with travel(at(7, 12)):
        now = kpis.compute(["backlog_open", "backlog_age"], at(0, 0), at(7, 13), user=None)
    assert now.value("backlog_open") == 1
    assert now.value("backlog_age") == {"lt_1d": 0, "1_3d": 0, "3_7d": 1, "gt_7d": 0}  # C, 6 days old


def test_empty_groups_are_null_never_zero(desk, other_team):
    result = week(["tickets_created", "tickets_resolved", "mttr_hours", "sla_resolution_met_rate"], "team")
    network = [row for row in result.rows if row.group == other_team.pk][0]
    assert network.label == "Network"
    assert network.values == {
        "tickets_created": 1,
        "tickets_resolved": 0,
        "mttr_hours": None,
        "sla_resolution_met_rate": None,
    }
    nothing = kpis.compute(["tickets_created", "mttr_hours", "fcr_rate"], at(-30, 0), at(-20, 0), user=None)
    assert nothing.value("tickets_created") == 0
    assert nothing.value("mttr_hours") is None
    assert nothing.value("fcr_rate") is None


def test_a_filter_keeps_one_team(desk, team):
    result = week(["tickets_created"], filters={"team": "Service Desk"})
    assert result.value("tickets_created") == 3
    with pytest.raises(kpis.KPIInputError):
        week(["tickets_created"], filters={"team": "No such team"})


def test_business_hours_mttr_counts_only_working_time_across_a_weekend(agent, requester):
    calendar = Calendar.objects.create(name="Office", time_zone="Europe/Paris")
    for weekday in range(5):
        WorkingPeriod.objects.create(calendar=calendar, weekday=weekday, start=time(9), end=time(17))
    payroll = Category.objects.create(name="Payroll")
    SLAPolicy.objects.create(
        name="Payroll", priority="medium", category=payroll, response_minutes=240, resolution_minutes=960,
        calendar=calendar,
    )  # fmt: skip
    # Friday 16:00 Paris (15:00 UTC) → Monday 10:00 Paris (09:00 UTC): 1 h Friday + 1 h Monday.
    with travel(datetime(2026, 3, 6, 15, 0, tzinfo=UTC)):
        ticket = actions.do_create_ticket(actor=agent, requester=requester, title="Payslip", category=payroll)
    with travel(datetime(2026, 3, 9, 9, 0, tzinfo=UTC)):
        actions.do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="Sent")
    with travel(datetime(2026, 3, 10, 12, 0, tzinfo=UTC)):
        result = kpis.compute(["mttr_hours", "mttr_business_hours"], at(4, 0), at(8, 0), user=None)
    assert result.value("mttr_hours")["median"] == 66.0
    assert result.value("mttr_business_hours")["median"] == 2.0
    ticket.refresh_from_db()
    python = business_time.between(calendar.schedule(), ticket.created_at, ticket.resolved_at) / 3600
    assert python == 2.0


def test_mtta_is_zero_for_tickets_created_assigned(agent, requester):
    actions.do_create_ticket(actor=agent, requester=requester, title="Mine", assignee=agent)
    now = datetime.now(UTC)
    result = kpis.compute(["mtta_minutes"], now - timedelta(hours=1), now + timedelta(hours=1), user=None)
    assert result.value("mtta_minutes") == {"mean": 0.0, "median": 0.0, "p90": 0.0}


def test_it_refuses_unknown_names_and_requesters(requester):
    with pytest.raises(kpis.KPIInputError, match="allowed: .*mttr_hours"):
        kpis.compute(["mttr"], at(0, 0), at(1, 0), user=None)
    with pytest.raises(kpis.KPIInputError, match="allowed: priority, category, team"):
        kpis.compute(["mttr_hours"], at(0, 0), at(1, 0), "colour", user=None)
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        kpis.compute(["mttr_hours"], at(0, 0), at(1, 0), user=requester)


def test_every_kpi_is_documented_and_computes_grouped(desk):
    for kpi in kpis.all_kpis():
        assert kpi.description and kpi.label and kpi.unit, kpi.name
    for grouping in kpis.groupings():
        week(kpis.names(), grouping)  # no SQL error for any KPI × grouping


# --- snapshots -----------------------------------------------------------------------------------
def test_snapshots_are_replaced_never_duplicated(desk):
    with travel(at(7, 12)):
        first = snapshots.write_days(date(2026, 3, 2), date(2026, 3, 8))
        rows = list(KPISnapshot.objects.order_by("day", "kpi", "grouping", "group").values_list(
            "day", "kpi", "grouping", "group", "value"))  # fmt: skip
        second = snapshots.write_days(date(2026, 3, 2), date(2026, 3, 8))
        again = list(KPISnapshot.objects.order_by("day", "kpi", "grouping", "group").values_list(
            "day", "kpi", "grouping", "group", "value"))  # fmt: skip
    assert first == second == len(rows) > 0
    assert rows == again
    created = {row[0]: row[4] for row in rows if row[1] == "tickets_created" and row[2] == ""}
    assert (
        created[date(2026, 3, 2)] == 1 and created[date(2026, 3, 3)] == 2 and created[date(2026, 3, 8)] == 0
    )
    team_rows = KPISnapshot.objects.filter(kpi="tickets_created", grouping="team", day=date(2026, 3, 3))
    assert sorted(team_rows.values_list("value", flat=True)) == [1, 1]  # B (Service Desk), C (Network)


def test_the_series_reads_snapshots_and_fills_missing_days_live(desk):
    with travel(at(7, 12)):
        snapshots.write_days(date(2026, 3, 2), date(2026, 3, 3))
        KPISnapshot.objects.filter(kpi="tickets_created", grouping="", day=date(2026, 3, 2)).update(value=99)
        series = snapshots.series("tickets_created", date(2026, 3, 2), date(2026, 3, 5))[None]
    # The stored (here: tampered) row is what the series reads; the days without rows are live.
    assert series == {date(2026, 3, 2): 99, date(2026, 3, 3): 2, date(2026, 3, 4): 0, date(2026, 3, 5): 1}


def test_rebuild_resumes_past_complete_chunks(desk):
    calls = []
    with travel(at(7, 12)):
        snapshots.rebuild(date(2026, 3, 2), date(2026, 3, 5), chunk_days=2)
        snapshots.rebuild(
            date(2026, 3, 2), date(2026, 3, 5), chunk_days=2, resume=True,
            progress=lambda index, count, chunk, written: calls.append(written),
        )  # fmt: skip
    assert calls == [0, 0]


def test_several_groupings_in_one_pass_give_what_each_grouping_gives_alone(desk):
    names = kpis.names()
    with travel(at(7, 12)):
        together = kpis.compute_sets(
            names, at(0, 0), at(7, 13), [None, "team", "priority", "tier"], user=None
        )
        for grouping in (None, "team", "priority", "tier"):
            alone = kpis.compute(names, at(0, 0), at(7, 13), grouping, user=None)
            assert [(row.group, row.label, row.values) for row in together[grouping].rows] == [
                (row.group, row.label, row.values) for row in alone.rows
            ], grouping


def test_a_past_level_comes_from_that_days_snapshot_when_there_is_one(desk):
    with travel(at(7, 12)):
        rebuilt = kpis.compute(["backlog_open"], at(0, 0), at(2, 0), user=None).value("backlog_open")
        snapshots.write_days(date(2026, 3, 3), date(2026, 3, 3))
        KPISnapshot.objects.filter(kpi="backlog_open", grouping="", day=date(2026, 3, 3)).update(value=41)
        stored = kpis.compute(["backlog_open"], at(0, 0), at(2, 0), user=None).value("backlog_open")
    assert (rebuilt, stored) == (2, 41)


def test_the_definitions_in_the_docs_are_the_registry():
    from pathlib import Path

    from itsm.analytics import docs

    text = (Path(__file__).resolve().parent.parent / "docs" / "analytics.md").read_text()
    between = text.split(docs.BEGIN, 1)[1].split(docs.END, 1)[0].strip()
    assert between == docs.kpi_table(), "regenerate the table: itsm.analytics.docs.print_table()"
