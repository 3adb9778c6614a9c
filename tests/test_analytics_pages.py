"""The KPI API, the dashboard, the agent home, /metrics and the commands: roles, bad input,
query counts."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from itsm import kpis
from itsm.models import KPISnapshot, Notification
from tickets import actions
from tickets.models import TicketStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sla_defaults():
    """The default policies of the data migration (a transactional test may have flushed them)."""
    from sla.defaults import ensure_defaults

    ensure_defaults()


@pytest.fixture
def tickets(agent, requester, team):
    made = []
    for index in range(3):
        ticket = actions.do_create_ticket(actor=agent, requester=requester, title=f"T{index}", team=team)
        made.append(ticket)
    actions.do_add_comment(made[0], actor=agent, body="Looking")
    actions.do_transition_ticket(made[0], TicketStatus.RESOLVED, actor=agent, resolution="Done")
    return made


# --- /api/kpis/ ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("persona", "status"), [("agent", 200), ("admin_user", 200), ("viewer", 200), ("requester", 403)]
)
def test_the_kpi_api_answers_agents_admins_and_viewers(request, api_for, persona, status, tickets):
    response = api_for(request.getfixturevalue(persona)).get("/api/kpis/")
    assert response.status_code == status
    if status == 403:
        assert response.json() == {"detail": "KPIs are for agents, admins and viewers."}


def test_anonymous_callers_are_refused(client):
    assert client.get("/api/kpis/").status_code in (401, 403)


def test_the_kpi_api_has_the_documented_shape(api_for, agent, tickets):
    today = kpis.local_today()
    body = api_for(agent).get("/api/kpis/", {"from": str(today), "to": str(today)}).json()
    assert body["from"] == body["to"] == str(today)
    assert body["group_by"] is None
    (row,) = body["results"]
    assert row["group"] is None
    assert row["tickets_created"] == 3
    assert row["tickets_resolved"] == 1
    assert row["backlog_open"] == 2
    assert set(row["mttr_hours"]) == {"mean", "median", "p90"}
    assert row["frt_minutes"]["median"] >= 0
    assert row["deflection_rate"] is None  # no portal ticket, no deflection: nothing measured
    assert row["ai_triage_acceptance_rate"] is None
    assert list(row) == ["group", *__import__("itsm.analytics.api", fromlist=["API_FIELDS"]).API_FIELDS]


def test_grouped_rows_name_teams_and_keep_codes(api_for, agent, tickets):
    body = api_for(agent).get("/api/kpis/", {"group_by": "team"}).json()
    assert [row["group"] for row in body["results"]] == ["Service Desk"]
    body = api_for(agent).get("/api/kpis/", {"group_by": "priority"}).json()
    assert [row["group"] for row in body["results"]] == ["medium"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-02-30"}, "from must be a date YYYY-MM-DD"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "is after to"),
        ({"group_by": "colour"}, "allowed: priority, category, team, assignee, tier, channel, type"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "longer than"),
    ],
)
def test_the_kpi_api_says_what_is_wrong(api_for, agent, params, message):
    response = api_for(agent).get("/api/kpis/", params)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_the_query_count_does_not_grow_with_the_tickets(
    api_for, agent, requester, team, django_assert_max_num_queries
):
    client = api_for(agent)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/api/kpis/", {"group_by": "team"})
    for index in range(5):
        actions.do_create_ticket(actor=agent, requester=requester, title=f"More {index}", team=team)
    with CaptureQueriesContext(connection) as many:
        client.get("/api/kpis/", {"group_by": "team"})
    assert len(few) == len(many)
    with django_assert_max_num_queries(12):
        client.get("/api/kpis/")


# --- /api/kpis/timeseries/ ---------------------------------------------------------------------------
def test_a_daily_series_reads_snapshots_and_today_live(api_for, agent, tickets):
    today = kpis.local_today()
    yesterday = today - timedelta(days=1)
    KPISnapshot.objects.create(day=yesterday, kpi="tickets_created", value=7)
    body = (
        api_for(agent)
        .get("/api/kpis/timeseries/", {"metric": "tickets_created", "from": str(yesterday), "to": str(today)})
        .json()
    )
    assert body["unit"] == "count" and body["interval"] == "day"
    assert body["series"] == [
        {"group": None, "points": [{"date": str(yesterday), "value": 7}, {"date": str(today), "value": 3}]}
    ]


def test_weekly_series_are_computed_in_one_grouped_query(api_for, agent, tickets):
    body = (
        api_for(agent)
        .get("/api/kpis/timeseries/", {"metric": "mttr_hours", "interval": "week", "group_by": "team"})
        .json()
    )
    assert body["group_by"] == "team"
    (series,) = body["series"]
    assert series["group"] == "Service Desk"
    assert [point["value"] for point in series["points"] if point["value"]][-1]["median"] >= 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "metric is required"),
        ({"metric": "speed"}, "Unknown KPI 'speed'; allowed:"),
        ({"metric": "mttr_hours", "interval": "hour"}, "allowed: day, week, month"),
        ({"metric": "deflection_rate", "group_by": "team"}, "cannot be grouped by team"),
    ],
)
def test_the_series_api_says_what_is_wrong(api_for, agent, params, message):
    response = api_for(agent).get("/api/kpis/timeseries/", params)
    assert response.status_code == 400
    assert message in response.json()["detail"]


# --- dashboard and home --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("persona", "status"), [("agent", 200), ("admin_user", 200), ("viewer", 200), ("requester", 403)]
)
def test_the_dashboard_is_for_agents_admins_and_viewers(client, request, persona, status, tickets):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("dashboard")).status_code == status


def test_the_dashboard_shows_tiles_charts_and_tables(client, agent, tickets):
    client.force_login(agent)
    html = client.get(reverse("dashboard"), {"days": 7}).content.decode()
    assert 'data-testid="tile-tickets_created" data-value="3"' in html
    # the charts (the top bar's bell is an SVG icon too, not counted)
    assert html.count("<svg viewBox") == 4 and "<script>" not in html
    assert 'hx-trigger="every 30s"' in html
    assert "By team" in html and "Service Desk" in html
    partial = client.get(reverse("dashboard"), {"days": 7}, HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('\n<div id="dashboard-live"') or partial.lstrip().startswith(
        '<div id="dashboard-live"'
    )
    assert "<html" not in partial


def test_the_dashboard_refuses_a_bad_range_beside_the_field(client, agent):
    client.force_login(agent)
    response = client.get(reverse("dashboard"), {"from": "2026-05-01", "to": "2026-04-01", "team": "x"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "The range ends before it starts." in html and "Unknown team." in html


def test_the_dashboard_query_count_is_fixed(
    client, agent, requester, team, django_assert_num_queries, tickets
):
    client.force_login(agent)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as before:
        client.get(reverse("dashboard"))
    for index in range(4):
        actions.do_create_ticket(actor=agent, requester=requester, title=f"More {index}", team=team)
    with django_assert_num_queries(len(before)):
        client.get(reverse("dashboard"))


def test_every_dashboard_table_downloads_as_csv(client, viewer, tickets):
    client.force_login(viewer)
    for table in ("tiles", "trends", "team", "priority", "category", "tier"):
        response = client.get(reverse("dashboard-csv", args=[table]), {"days": 7})
        assert response.status_code == 200, table
        assert response["Content-Type"].startswith("text/csv")
    team_csv = client.get(reverse("dashboard-csv", args=["team"])).content.decode().splitlines()
    assert team_csv[0].startswith("team,tickets_created,tickets_resolved")
    assert team_csv[1].startswith("Service Desk,3,1,2,")
    assert client.get(reverse("dashboard-csv", args=["colour"])).status_code == 404


def test_the_before_after_page_compares_and_refuses_bad_periods(client, agent, tickets):
    client.force_login(agent)
    today = kpis.local_today()
    before = f"{today - timedelta(days=14)}:{today - timedelta(days=7)}"
    after = f"{today - timedelta(days=6)}:{today}"
    html = client.get(reverse("dashboard-compare"), {"before": before, "after": after}).content.decode()
    assert 'data-testid="compare-table"' in html and "Tickets created" in html
    csv_text = client.get(
        reverse("dashboard-compare"), {"before": before, "after": after, "format": "csv"}
    ).content.decode()
    assert "tickets_created,,,0,3,3," in csv_text
    response = client.get(reverse("dashboard-compare"), {"before": "last year", "after": after})
    assert response.status_code == 400
    assert "before must be YYYY-MM-DD:YYYY-MM-DD" in response.content.decode()


def test_the_agent_home_summarises_my_work_with_links_to_the_queue(client, agent, requester, team, tickets):
    actions.do_assign_ticket(tickets[1], actor=agent, assignee=agent)
    Notification.objects.create(recipient=agent, verb="assigned", title="INC-9 assigned to you")
    client.force_login(agent)
    html = client.get(reverse("home")).content.decode()
    assert 'data-testid="landing-title"' in html
    assert 'data-testid="home-my_open"' in html and "?assignee=me&amp;status=new" in html
    assert "INC-9 assigned to you" in html
    assert "?assignee=none&amp;team=" in html
    assert "sla=breached" in html and "due=today" in html


def test_requesters_keep_their_landing_page(client, requester):
    client.force_login(requester)
    html = client.get(reverse("home")).content.decode()
    assert 'class="cards"' in html and "home-tiles" not in html


def test_the_queue_filters_tickets_due_today(client, agent, tickets):
    client.force_login(agent)
    html = client.get(reverse("tickets:ticket-list"), {"due": "today"}).content.decode()
    # Medium tickets created now are due in 2 h (response): due today unless it is past 22:00.
    assert (
        ("T1" in html)
        or ("T2" in html)
        or __import__("django.utils.timezone", fromlist=["now"]).now().hour >= 22
    )


# --- /metrics -----------------------------------------------------------------------------------------
def test_a_scrape_costs_a_fixed_number_of_queries(client, tickets, django_assert_num_queries):
    # 3 for the process (SELECT 1, heartbeat, jobs), 2 tickets, 1 SLA, 1 triage, 1 outboxes.
    with django_assert_num_queries(8):
        response = client.get("/metrics")
    text = response.content.decode()
    assert response.status_code == 200
    assert 'itsm_tickets_open{priority="medium",status="new"} 2.0' in text
    assert 'itsm_sla_clocks{metric="resolution",state="on_track"} 2.0' in text
    assert 'itsm_outbox_pending{integration="webhooks"} 0.0' in text
    assert 'itsm_collector_up{collector="tickets"} 1.0' in text
    assert "INC-" not in text and "@" not in text  # no ticket numbers, no emails in labels


@override_settings(METRICS_TOKEN="s3cret-token", METRICS_ALLOWED_IPS=[])
def test_metrics_want_the_bearer_token_when_one_is_set(client):
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics").status_code == 401  # even from 127.0.0.1


@override_settings(METRICS_TOKEN="", METRICS_ALLOWED_IPS=["10.1.0.0/16"])
def test_metrics_answer_the_allowed_addresses_only(client):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 403
    assert client.get("/metrics").status_code == 403  # loopback is not in the list


@override_settings(METRICS_TOKEN="", METRICS_ALLOWED_IPS=[], PRODUCTION=True)
def test_metrics_are_closed_in_production_without_a_token_or_addresses(client):
    response = client.get("/metrics")
    assert response.status_code == 403
    assert "METRICS_TOKEN or METRICS_ALLOWED_IPS" in response.content.decode()


@override_settings(METRICS_TOKEN="", METRICS_ALLOWED_IPS=[])
def test_metrics_are_open_to_this_machine_only_in_development(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 403


def test_a_broken_collector_does_not_take_the_others_down(client, monkeypatch):
    from itsm.analytics import metrics

    def broken():
        raise RuntimeError("boom")
        yield

    monkeypatch.setitem(metrics._collectors, "broken", broken)
    text = client.get("/metrics").content.decode()
    assert 'itsm_collector_up{collector="broken"} 0.0' in text
    assert "itsm_tickets_unassigned" in text


# --- commands -----------------------------------------------------------------------------------------
def test_kpi_report_prints_both_periods_in_every_format(tickets):
    today = kpis.local_today()
    before = f"{today - timedelta(days=14)}:{today - timedelta(days=7)}"
    after = f"{today - timedelta(days=6)}:{today}"
    out = StringIO()
    call_command("kpi_report", before=before, after=after, kpi=["tickets_created"], stdout=out)
    assert "tickets_created" in out.getvalue() and "+3" in out.getvalue()
    out = StringIO()
    call_command("kpi_report", before=before, after=after, group_by="team", format="json", stdout=out)
    data = json.loads(out.getvalue())
    line = next(
        line for line in data["lines"] if line["kpi"] == "tickets_created" and line["group"] == "Service Desk"
    )
    assert (line["before"], line["after"], line["change"]) == (0, 3, 3)
    with pytest.raises(CommandError, match="--before must be YYYY-MM-DD:YYYY-MM-DD"):
        call_command("kpi_report", before="yesterday", after=after)
    with pytest.raises(CommandError, match="Unknown group_by"):
        call_command("kpi_report", before=before, after=after, group_by="colour")


def test_kpi_snapshot_rebuilds_and_refuses_bad_dates(tickets):
    today = kpis.local_today()
    out = StringIO()
    call_command("kpi_snapshot", since=str(today - timedelta(days=3)), stdout=out)
    assert "rows written" in out.getvalue()
    assert KPISnapshot.objects.filter(day=today, kpi="tickets_created", grouping="").get().value == 3
    count = KPISnapshot.objects.count()
    call_command("kpi_snapshot", since=str(today - timedelta(days=3)), stdout=StringIO())
    assert KPISnapshot.objects.count() == count
    with pytest.raises(CommandError, match="not a date"):
        call_command("kpi_snapshot", since="March")
    with pytest.raises(CommandError, match="before --since"):
        call_command("kpi_snapshot", since=str(today), until=str(today - timedelta(days=2)))


def test_the_periodic_task_writes_yesterday_and_today(tickets):
    from itsm.tasks import snapshot_kpis

    snapshot_kpis()
    snapshot_kpis()  # a retry or a second run changes nothing
    days = set(KPISnapshot.objects.filter(kpi="tickets_created", grouping="").values_list("day", flat=True))
    assert days == {kpis.local_today(), kpis.local_today() - timedelta(days=1)}
    assert KPISnapshot.objects.filter(kpi="at_risk_now", day=kpis.local_today(), grouping="").exists()
