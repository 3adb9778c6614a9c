"""JSM SLA → SLA clocks (source jira): the sla app's sync endpoint, issue fields, batch staleness."""

import copy
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from procrastinate.contrib.django import app

from integrations.jira.client import JiraClient
from integrations.jira.inbound import apply_issue
from integrations.jira.models import JiraLink
from integrations.jira.sla_sync import JsmSla, apply_issue_sla_fields, sync_stale
from integrations.jira.tests.fakejira import fixture
from sla.models import TicketSLA
from tickets.models import Ticket

pytestmark = pytest.mark.django_db
EXAMPLES = fixture("jsm-sla-issue-field-examples.json")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def linked(deliver, process):
    """ITSUP-42 received from Jira, so the ticket is linked."""
    deliver(fixture("jira-webhook-issue-created.json"))
    process()
    return Ticket.objects.get(external_key="ITSUP-42")


def test_the_sync_endpoint_reads_the_jsm_sla_into_the_clocks(fake_jira, linked, agent, api_for):
    fake_jira.slas["ITSUP-42"] = fixture("jsm-sla-response.json")["values"]
    response = api_for(agent).post(f"/api/sla/ticket/{linked.pk}/sync/")
    assert response.status_code == 200
    assert response.json()["synced"] == 2
    response_clock = TicketSLA.objects.get(ticket=linked, metric="response")
    assert response_clock.source == "jira"
    assert response_clock.started_at == at("2025-03-14T09:26:53.118+00:00")
    assert response_clock.due_at == at("2025-03-14T10:26:53.118+00:00")
    assert response_clock.stopped_at == at("2025-03-14T10:05:00.512+00:00")
    assert response_clock.state == "met"
    resolution = TicketSLA.objects.get(ticket=linked, metric="resolution")
    assert (resolution.source, resolution.due_at, resolution.stopped_at) == (
        "jira",
        at("2025-03-14T13:26:53.118+00:00"),
        None,
    )
    assert JiraLink.objects.get().sla_synced_at is not None


def test_a_ticket_not_linked_to_jira_is_a_409(fake_jira, make_ticket, agent, api_for, settings):
    settings.JIRA_PUSH_ENABLED = False
    ticket = make_ticket("Local only")
    response = api_for(agent).post(f"/api/sla/ticket/{ticket.pk}/sync/")
    assert response.status_code == 409
    assert "not linked" in response.json()["detail"]


def test_jira_down_is_a_503_and_changes_no_clock(fake_jira, linked, agent, api_for):
    before = list(TicketSLA.objects.filter(ticket=linked).values())
    fake_jira.fail("GET", "/rest/servicedeskapi/request/ITSUP-42/sla", 503, times=10)
    response = api_for(agent).post(f"/api/sla/ticket/{linked.pk}/sync/")
    assert response.status_code == 503
    assert "503" in response.json()["detail"]
    assert list(TicketSLA.objects.filter(ticket=linked).values()) == before


def test_a_linked_issue_that_is_not_a_jsm_request_syncs_nothing(fake_jira, linked, agent, api_for):
    response = api_for(agent).post(f"/api/sla/ticket/{linked.pk}/sync/")
    assert response.status_code == 200
    assert response.json()["synced"] == 0
    assert JiraLink.objects.get().sla_error == "not a JSM request"


def test_paused_breached_and_unstarted_slas(linked):
    link = linked.jira_link
    paused = copy.deepcopy(EXAMPLES["ongoing_paused"])
    breached = copy.deepcopy(EXAMPLES["ongoing_breached"])
    breached["name"] = "Time to first response"
    applied = apply_issue_sla_fields(
        linked,
        link,
        {
            "customfield_10030": paused,
            "customfield_10031": breached,
            "customfield_10032": EXAMPLES["not_started"],
        },
    )
    assert len(applied) == 2
    resolution = TicketSLA.objects.get(ticket=linked, metric="resolution")
    assert resolution.state == "paused" and resolution.paused_since is not None
    response_clock = TicketSLA.objects.get(ticket=linked, metric="response")
    assert response_clock.breached_at is not None and response_clock.state == "breached"


def test_an_sla_without_a_running_cycle_uses_its_last_completed_one():
    completed = JsmSla.parse(EXAMPLES["completed_only"])
    assert completed.cycle.stopped_at == at("2025-03-14T10:05:00.512+00:00")
    assert completed.cycle.breached is False
    unstarted = JsmSla.parse(EXAMPLES["not_started"])
    assert unstarted.cycle is None
    explicit_null = JsmSla.parse({**EXAMPLES["not_started"], "ongoingCycle": None})
    assert explicit_null.cycle is None


def test_sla_fields_delivered_with_the_issue_feed_the_clocks(fake_jira):
    apply_issue(fixture("jira-get-issue-response.json"), event="reconcile")
    ticket = Ticket.objects.get(external_key="ITSUP-42")
    clocks = {clock.metric: clock for clock in TicketSLA.objects.filter(ticket=ticket)}
    assert clocks["resolution"].source == "jira"
    assert clocks["resolution"].due_at == at("2025-03-14T13:26:53.118+00:00")
    assert clocks["response"].stopped_at == at("2025-03-14T10:05:00.512+00:00")
    assert fake_jira.requests == []  # no extra call


def test_unchanged_sla_values_write_nothing(linked):
    link = linked.jira_link
    fields = {"customfield_10030": EXAMPLES["ongoing_not_breached"]}
    apply_issue_sla_fields(linked, link, fields)
    link.refresh_from_db()
    clock = TicketSLA.objects.get(ticket=linked, metric="resolution")
    apply_issue_sla_fields(linked, link, copy.deepcopy(fields))
    assert TicketSLA.objects.get(ticket=linked, metric="resolution").updated_at == clock.updated_at


def test_the_batch_refreshes_only_stale_links(fake_jira, deliver, process, settings):
    settings.JIRA_SLA_SYNC_STALE_SECONDS = 300
    deliver(fixture("jira-webhook-issue-created.json"))
    second = copy.deepcopy(fixture("jira-webhook-issue-created.json"))
    second["issue"].update({"id": "10043", "key": "ITSUP-43"})
    deliver(second)
    process()
    for key in ("ITSUP-42", "ITSUP-43"):
        fake_jira.slas[key] = fixture("jsm-sla-response.json")["values"]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert sync_stale() == {"synced": 2, "failed": 0, "stale": 2}
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        assert sync_stale() == {"synced": 0, "failed": 0, "stale": 0}
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        assert sync_stale(limit=1) == {"synced": 1, "failed": 0, "stale": 1}
    assert len(fake_jira.requests_to("GET", "/rest/servicedeskapi/request/")) == 3


def test_the_batch_stops_when_jira_is_down(fake_jira, deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    second = copy.deepcopy(fixture("jira-webhook-issue-created.json"))
    second["issue"].update({"id": "10043", "key": "ITSUP-43"})
    deliver(second)
    process()
    fake_jira.fail("GET", "/rest/servicedeskapi/request/", 503, times=100)
    assert sync_stale() == {"synced": 0, "failed": 1, "stale": 2}
    assert "503" in JiraLink.objects.exclude(sla_error="").get().sla_error


def test_the_batch_is_off_without_jira(linked):
    assert sync_stale()["skipped"] == "disabled"


def test_the_batch_is_periodic():
    periodic = {task.periodic_id for task in app.periodic_registry.periodic_tasks.values()}
    assert {"jira-sla-sync", "jira-requeue", "jira-auto-reconcile"} <= periodic


def test_the_jsm_sla_endpoint_is_read_page_by_page(fake_jira):
    fake_jira.slas["ITSUP-42"] = fixture("jsm-sla-response.json")["values"]
    values = JiraClient().get_request_slas("ITSUP-42", limit=1)
    assert [value["name"] for value in values] == ["Time to first response", "Time to resolution"]
    starts = [
        seen.query["start"]
        for seen in fake_jira.requests_to("GET", "/rest/servicedeskapi/request/ITSUP-42/sla")
    ]
    assert starts == [["0"], ["1"]]
