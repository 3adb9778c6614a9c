"""Reconcile: JQL search with token pagination, repair, counts, drift; endpoint, command, periodic."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone
from procrastinate.contrib.django import app

from integrations.jira.models import ReconcileRun
from integrations.jira.reconcile import build_jql, run_reconcile
from integrations.jira.tasks import auto_reconcile
from integrations.jira.tests.fakejira import fixture
from tickets.models import Ticket

pytestmark = pytest.mark.django_db
URL = "/api/integrations/jira/reconcile/"


def since(days: int = 2):
    return timezone.now() - timedelta(days=days)


def test_it_pulls_every_page_and_creates_the_missing_tickets(fake_jira, settings):
    settings.JIRA_RECONCILE_PAGE_SIZE = 2
    for number in range(1, 6):
        fake_jira.add_issue(
            f"ITSUP-{number}", summary=f"Issue {number}", updated=f"2025-03-14T10:0{number}:00.000+0000"
        )
    with time_machine.travel(timezone.now(), tick=False):
        run = run_reconcile(since=since(), trigger="command")
    assert (run.ok, run.pages, run.seen, run.created, run.updated, run.unchanged) == (True, 3, 5, 5, 0, 0)
    assert sorted(Ticket.objects.values_list("external_key", flat=True)) == [
        f"ITSUP-{n}" for n in range(1, 6)
    ]
    assert Ticket.objects.get(external_key="ITSUP-3").description == "Description of ITSUP-3"
    assert [item["kind"] for item in run.drift] == ["missing"] * 5
    bodies = [seen.body for seen in fake_jira.requests_to("POST", "/rest/api/3/search/jql")]
    assert [body.get("nextPageToken") for body in bodies] == [None, "page-2", "page-4"]
    assert bodies[0]["jql"] == 'project in ("ITSUP") AND updated >= "-2880m" ORDER BY updated ASC'
    assert bodies[0]["maxResults"] == 2 and "comment" in bodies[0]["fields"]


def test_a_second_pass_repairs_only_what_drifted(fake_jira):
    for number in range(1, 4):
        fake_jira.add_issue(f"ITSUP-{number}", summary=f"Issue {number}")
    run_reconcile(since=since(), trigger="command")
    issue = fake_jira.issues["ITSUP-2"]["fields"]
    issue.update(
        {
            "summary": "Issue 2 (renamed)",
            "updated": "2025-03-14T11:00:00.000+0000",
            "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
        }
    )
    issue["comment"]["comments"].append(fixture("jira-add-comment-response.json"))
    run = run_reconcile(since=since(), trigger="command")
    assert (run.created, run.updated, run.unchanged) == (0, 1, 2)
    (drift,) = run.drift
    assert drift["issue"] == "ITSUP-2" and drift["kind"] == "changed"
    assert set(drift["fields"]) == {"title", "status", "reply"}
    ticket = Ticket.objects.get(external_key="ITSUP-2")
    assert (ticket.title, ticket.status) == ("Issue 2 (renamed)", "in_progress")
    assert ticket.comments.get().body == "Update from ITSM: the VPN certificate was renewed, please retry."
    third = run_reconcile(since=since(), trigger="command")
    assert (third.created, third.updated, third.unchanged) == (0, 0, 3)


def test_it_repairs_a_ticket_whose_webhook_was_missed(fake_jira, deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    process()
    fake_jira.add_issue(
        "ITSUP-42",
        issue_id="10042",
        summary="VPN connection times out for all users on floor 3",
        updated="2025-03-14T12:00:00.000+0000",
        priority="Highest",
        status="Resolved",
        category="done",
    )
    run = run_reconcile(since=since(), trigger="api")
    assert run.updated == 1
    ticket = Ticket.objects.get(external_key="ITSUP-42")
    assert (ticket.priority, ticket.status) == ("critical", "resolved")


def test_a_jira_error_ends_the_run_with_the_message(fake_jira):
    fake_jira.fail(
        "POST",
        "/rest/api/3/search/jql",
        400,
        body={"errorMessages": ["Invalid JQL. Bad request."], "errors": {}},
    )
    run = run_reconcile(since=since(), trigger="command")
    assert run.ok is False
    assert "Invalid JQL" in run.error
    assert run.finished_at is not None


def test_the_jql_window_does_not_depend_on_the_jira_user_time_zone():
    now = timezone.now()
    assert build_jql(["B", "A"], now - timedelta(minutes=90, seconds=1), now) == (
        'project in ("A", "B") AND updated >= "-91m" ORDER BY updated ASC'
    )


# --- the endpoint ---------------------------------------------------------------------------
def test_agents_reconcile_through_the_api(fake_jira, agent, api_for):
    fake_jira.add_issue("ITSUP-1")
    response = api_for(agent).post(URL, {"since": "2025-03-01"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["created"], body["updated"], body["unchanged"]) == (True, 1, 0, 0)
    assert body["drift"] == [{"issue": "ITSUP-1", "ticket": Ticket.objects.get().number, "kind": "missing"}]
    assert ReconcileRun.objects.get().trigger == "api"


@pytest.mark.parametrize("persona", ["requester", "viewer"])
def test_other_roles_may_not_reconcile(fake_jira, api_for, persona, request):
    response = api_for(request.getfixturevalue(persona)).post(URL, {}, format="json")
    assert response.status_code == 403
    assert ReconcileRun.objects.count() == 0


def test_anonymous_callers_are_refused(client, fake_jira):
    assert client.post(URL).status_code in (401, 403)
    assert ReconcileRun.objects.count() == 0


@pytest.mark.parametrize("value", ["yesterday", "2025-13-45", "3000-01-01"])
def test_a_bad_since_is_a_400_and_changes_nothing(fake_jira, agent, api_for, value):
    response = api_for(agent).post(URL, {"since": value}, format="json")
    assert response.status_code == 400
    assert "since" in response.json()
    assert ReconcileRun.objects.count() == 0
    assert fake_jira.requests == []


def test_an_unconfigured_integration_is_a_409(agent, api_for):
    response = api_for(agent).post(URL, {}, format="json")
    assert response.status_code == 409
    assert "JIRA_BASE_URL" in response.json()["detail"]


def test_jira_refusing_the_search_is_a_502_with_the_report(fake_jira, agent, api_for):
    fake_jira.fail("POST", "/rest/api/3/search/jql", 503, times=10)
    response = api_for(agent).post(URL, {}, format="json")
    assert response.status_code == 502
    assert response.json()["ok"] is False and "503" in response.json()["error"]


def test_a_background_reconcile_is_queued(fake_jira, agent, api_for, new_jobs):
    response = api_for(agent).post(URL, {"background": True}, format="json")
    assert response.status_code == 202
    assert new_jobs("integrations.jira.tasks.reconcile") == 1
    assert api_for(agent).post(URL, {"background": True}, format="json").status_code == 409


def test_the_status_endpoint_reports_the_configuration(fake_jira, agent, api_for, requester):
    body = api_for(agent).get("/api/integrations/jira/status/").json()
    assert (body["inbound"], body["outbound"], body["projects"]) == (True, True, ["ITSUP"])
    assert api_for(requester).get("/api/integrations/jira/status/").status_code == 403


# --- the command ------------------------------------------------------------------------------
def test_the_command_prints_the_counts(fake_jira, capsys):
    fake_jira.add_issue("ITSUP-1", summary="Printer")
    call_command("jira_reconcile", "--since", "2025-03-01")
    out = capsys.readouterr().out
    assert "1 created, 0 updated, 0 unchanged" in out
    assert "ITSUP-1 →" in out
    assert ReconcileRun.objects.get().trigger == "command"


@pytest.mark.parametrize("value", ["14/03/2025", "not-a-date", "2999-01-01"])
def test_the_command_refuses_a_bad_date(fake_jira, value):
    with pytest.raises(CommandError, match="Invalid --since"):
        call_command("jira_reconcile", "--since", value)
    assert ReconcileRun.objects.count() == 0


def test_the_command_says_when_jira_is_not_configured():
    with pytest.raises(CommandError, match="not configured"):
        call_command("jira_reconcile", "--days", "1")


# --- periodic ---------------------------------------------------------------------------------
def test_auto_reconcile_is_periodic():
    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["jira-auto-reconcile"].cron == "* * * * *"


def test_auto_reconcile_runs_when_enabled_and_due(fake_jira, settings):
    assert auto_reconcile() == "disabled"
    settings.JIRA_AUTO_RECONCILE_ENABLED = True
    settings.JIRA_AUTO_RECONCILE_INTERVAL_SECONDS = 600
    settings.JIRA_AUTO_RECONCILE_LOOKBACK_DAYS = 3
    fake_jira.add_issue("ITSUP-1")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert auto_reconcile().startswith("created 1")
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        assert auto_reconcile() == "not due"
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        assert auto_reconcile() == "created 0, updated 0, unchanged 1"
    runs = list(ReconcileRun.objects.order_by("started_at"))
    assert [run.trigger for run in runs] == ["periodic", "periodic"]
    assert runs[0].since == start - timedelta(days=3)
    assert '"-4320m"' in fake_jira.requests_to("POST", "/rest/api/3/search/jql")[0].body["jql"]
