"""Operator commands: sla_run (and its dry run), sla_simulate (and bad policy files)."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sla.models import Calendar, SLAEvent, SLAPause, SLAPolicy, TicketSLA
from sla.tests.conftest import T0
from tickets.actions import do_add_comment, do_transition_ticket

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def critical(make_ticket, **fields):
    return make_ticket(impact="high", urgency="high", **fields)


def test_sla_run_dry_run_lists_and_changes_nothing(make_ticket, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=16)):
        output = run("sla_run", "--dry-run")
    assert "dry run" in output and "1 breached" in output
    assert f"would breach: {ticket.number} response" in output
    assert "would escalate level 1" in output
    assert TicketSLA.objects.get(ticket=ticket, metric="response").state == "on_track"
    assert not SLAEvent.objects.exists()


def test_sla_run_acts_once_and_speaks_json(make_ticket, clock_at, policies):
    with clock_at(T0):
        critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=16)):
        first = json.loads(run("sla_run", "--json"))
        second = json.loads(run("sla_run", "--json", "--no-risk"))
    assert (first["dry_run"], first["breaches"], first["escalations"], first["risk_evaluations"]) == (
        False,
        1,
        1,
        1,
    )
    assert (second["breaches"], second["escalations"], second["risk_evaluations"]) == (0, 0, 0)


@pytest.fixture
def history(make_ticket, agent, clock_at, policies):
    """Three critical tickets: answered at 10, 20 and 40 minutes; resolved at 1 h, 1.5 h and 3 h;
    the third paused for an hour in pending_vendor (so its resolution took 2 h of clock time)."""
    tickets = []
    for n, (answer, resolve) in enumerate([(10, 60), (20, 90), (40, 180)]):
        start = T0 + timedelta(hours=n * 4)
        with clock_at(start):
            ticket = critical(make_ticket, title=f"Outage {n}")
        with clock_at(start + timedelta(minutes=answer)):
            do_add_comment(ticket, actor=agent, body="On it")
        if n == 2:
            with clock_at(start + timedelta(minutes=50)):
                do_transition_ticket(ticket, "pending_vendor", actor=agent)
            with clock_at(start + timedelta(minutes=110)):
                do_transition_ticket(ticket, "in_progress", actor=agent)
        with clock_at(start + timedelta(minutes=resolve)):
            do_transition_ticket(ticket, "resolved", actor=agent, resolution="done")
        tickets.append(ticket)
    assert SLAPause.objects.filter(reason="pending_vendor").count() == 1
    return tickets


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_sla_simulate_compares_candidate_policies_with_the_current_ones(history, tmp_path, clock_at):
    # Current critical: 15 min / 2 h → responses at 20 and 40 min breach; no resolution breaches (the
    # 3 h one was paused for 1 h). Candidate: 30 min / 80 min → 1 response and 2 resolutions breach.
    policy = write(
        tmp_path,
        "candidate.yaml",
        """
policies:
  - name: Critical, tighter resolution
    priority: critical
    response_minutes: 30
    resolution_minutes: 80
""",
    )
    before = list(TicketSLA.objects.order_by("pk").values())
    with clock_at(T0 + timedelta(days=1)):
        data = json.loads(run("sla_simulate", "--policy", policy, "--since", "2026-03-01", "--json"))
    critical_row = next(row for row in data["priorities"] if row["priority"] == "critical")
    assert critical_row["tickets"] == 3
    assert (critical_row["current"]["response_breaches"], critical_row["candidate"]["response_breaches"]) == (
        2,
        1,
    )
    assert (
        critical_row["current"]["resolution_breaches"],
        critical_row["candidate"]["resolution_breaches"],
    ) == (0, 2)
    assert list(TicketSLA.objects.order_by("pk").values()) == before  # nothing changed
    with clock_at(T0 + timedelta(days=1)):
        text = run("sla_simulate", "--policy", policy, "--since", "2026-03-01")
    assert "Nothing was changed." in text
    assert "2 → 1 (-1)" in text and "0 → 2 (+2)" in text


def test_sla_simulate_replays_business_hours_calendars_from_json(history, tmp_path, clock_at):
    # Office hours 10:00–11:00 UTC only: every ticket started at 09:00, 13:00 or 17:00 UTC. With a
    # 1-minute response target, a reply before 10:00 counts no working time and is in time.
    policy = write(
        tmp_path,
        "candidate.json",
        json.dumps(
            {
                "calendars": {
                    "tiny": {
                        "time_zone": "UTC",
                        "hours": {day: ["10:00-11:00"] for day in ["mon", "tue", "wed", "thu", "fri"]},
                    }
                },
                "tier_multipliers": {"standard": 1},
                "policies": [
                    {
                        "priority": "critical",
                        "response_minutes": 1,
                        "resolution_minutes": 1,
                        "calendar": "tiny",
                    }
                ],
            }
        ),
    )
    with clock_at(T0 + timedelta(days=1)):
        data = json.loads(run("sla_simulate", "--policy", policy, "--since", "2026-03-01", "--json"))
    row = next(row for row in data["priorities"] if row["priority"] == "critical")
    # Ticket 0 (09:00) resolved at 10:00 → 0 working minutes; tickets 1 and 2 start after 11:00 and
    # end before the next 10:00 → 0 too. Nothing breaches under this calendar.
    assert (row["candidate"]["response_breaches"], row["candidate"]["resolution_breaches"]) == (0, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("policies: [", "not valid YAML"),
        ("- just a list", "file: must be a mapping"),
        ("policies: []", "policies: must be a non-empty list"),
        (
            "policies:\n  - {priority: urgent, response_minutes: 5, resolution_minutes: 10}",
            "policies[0].priority",
        ),
        (
            "policies:\n  - {priority: high, response_minutes: 50, resolution_minutes: 10}",
            "policies[0].resolution_minutes: cannot be shorter",
        ),
        (
            "policies:\n  - {priority: high, response_minutes: -5, resolution_minutes: 10}",
            "policies[0].response_minutes: must be a whole number",
        ),
        (
            "policies:\n  - {priority: high, response_minutes: 5, resolution_minutes: 10, calendar: nope}",
            "no calendar named 'nope'",
        ),
        (
            "policies:\n  - {priority: high, response_minutes: 5, resolution_minutes: 10, category: Nope}",
            "no category named 'Nope'",
        ),
        (
            "policies:\n  - {priority: high, response_minutes: 5, resolution_minutes: 10, colour: red}",
            "unknown key(s) colour",
        ),
        (
            "calendars: {x: {time_zone: Mars/Base, hours: {mon: ['09:00-17:00']}}}\npolicies: []",
            "calendars.x.time_zone",
        ),
        ("calendars: {x: {hours: {mon: ['9-17']}}}\npolicies: []", "calendars.x.hours.mon[0]"),
        ("calendars: {x: {hours: {funday: ['09:00-17:00']}}}\npolicies: []", "unknown weekday(s) funday"),
        ("tier_multipliers: {gold: 2}\npolicies: []", "tier_multipliers.gold: unknown tier"),
    ],
)
def test_sla_simulate_refuses_a_bad_policy_file(tmp_path, policies, text, message):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(CommandError) as error:
        run("sla_simulate", "--policy", path, "--since", "2026-01-01")
    assert "Bad policy file" in str(error.value)
    assert message in str(error.value)


def test_sla_simulate_refuses_bad_arguments(tmp_path, policies):
    path = write(
        tmp_path, "ok.yaml", "policies: [{priority: low, response_minutes: 5, resolution_minutes: 10}]"
    )
    with pytest.raises(CommandError, match="is not a date"):
        run("sla_simulate", "--policy", path, "--since", "last week")
    with pytest.raises(CommandError, match="before --since"):
        run("sla_simulate", "--policy", path, "--since", "2026-03-05", "--until", "2026-03-01")
    with pytest.raises(CommandError, match="cannot be read"):
        run("sla_simulate", "--policy", str(tmp_path / "missing.yaml"), "--since", "2026-03-01")
    assert SLAPolicy.objects.count() == 4 and Calendar.objects.count() == 1
