"""Runbook pages: the ticket's panel (matches, run, decide, cancel), one execution, an item's
executions, the settings page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from runbooks import actions
from runbooks.models import ExecutionStatus, RunbookExecution, RunbookSettings

pytestmark = pytest.mark.django_db

SERVICE = [{"name": "service", "type": "string", "default": "nginx"}]
STEPS = [{"name": "Restart", "type": "ssh", "command": "echo restart {service}"}]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def runbook(make_runbook, ssh_connection):
    return make_runbook(STEPS, parameters=SERVICE)


def test_the_panel_lists_matches_and_runs_one_waiting_for_approval(client, agent, incident, runbook):
    client.force_login(agent)
    panel = client.get(reverse("runbooks:ticket-panel", args=[incident.pk]), **HTMX).content.decode()
    assert (
        'data-testid="runbook-match"' in panel
        and "Restart a service" in panel
        and "keywords: restart" in panel
    )
    assert "<html" not in panel  # the partial only
    response = client.post(
        reverse("runbooks:ticket-run", args=[incident.pk, runbook.pk]), {"param-service": "apache2"}, **HTMX
    )
    assert response.status_code == 200 and "ticketUpdated" in response.headers["HX-Trigger"]
    content = response.content.decode()
    assert "waits for approval" in content and "data-polling" in content
    execution = RunbookExecution.objects.get()
    assert execution.status == ExecutionStatus.PENDING_APPROVAL and execution.parameters == {
        "service": "apache2"
    }


def test_bad_parameters_on_the_panel_say_why_and_write_nothing(client, agent, incident, runbook):
    client.force_login(agent)
    response = client.post(
        reverse("runbooks:ticket-run", args=[incident.pk, runbook.pk]), {"param-service": "a\r\nb"}, **HTMX
    )
    assert response.status_code == 200 and "Line breaks" in response.content.decode()
    assert not RunbookExecution.objects.exists()
    plain = client.post(reverse("runbooks:ticket-run", args=[incident.pk, runbook.pk]), {"param-nope": "x"})
    assert plain.status_code == 302 and plain.url.endswith("#panel-runbooks")
    assert not RunbookExecution.objects.exists()


def test_the_lead_approves_on_the_execution_page_and_the_requester_cannot(
    client, agent, lead, incident, runbook
):
    execution = actions.do_request_execution(incident, runbook, actor=agent)
    url = reverse("runbooks:execution-decide", args=[execution.pk])
    client.force_login(agent)
    refused = client.post(url, {"decision": "approve"}, **HTMX)
    assert "someone else must decide" in refused.content.decode()
    assert RunbookExecution.objects.get().status == ExecutionStatus.PENDING_APPROVAL
    client.force_login(lead)
    page = client.get(reverse("runbooks:execution-detail", args=[execution.pk])).content.decode()
    assert f'data-testid="approve-execution-{execution.pk}"' in page
    approved = client.post(url, {"decision": "approve", "comment": "ok"})
    assert approved.status_code == 302
    assert RunbookExecution.objects.get().status == ExecutionStatus.QUEUED
    again = client.post(url, {"decision": "approve"}, **HTMX)
    assert "does not wait for an approval" in again.content.decode()


def test_cancel_from_the_panel(client, agent, incident, runbook):
    execution = actions.do_request_execution(incident, runbook, actor=agent)
    client.force_login(agent)
    response = client.post(
        reverse("runbooks:execution-cancel", args=[execution.pk]), {"from": "panel"}, **HTMX
    )
    assert response.status_code == 200 and 'id="runbooks-panel-' in response.content.decode()
    assert RunbookExecution.objects.get().status == ExecutionStatus.CANCELLED


def test_access_requesters_get_404_and_wrong_methods_405(client, requester, agent, incident, runbook):
    execution = actions.do_request_execution(incident, runbook, actor=agent)
    client.force_login(requester)
    for url in (
        reverse("runbooks:ticket-panel", args=[incident.pk]),
        reverse("runbooks:execution-detail", args=[execution.pk]),
    ):
        assert client.get(url).status_code == 404
    client.force_login(agent)
    assert client.get(reverse("runbooks:ticket-run", args=[incident.pk, runbook.pk])).status_code == 405
    assert client.post(reverse("runbooks:ticket-panel", args=[incident.pk])).status_code == 405


def test_viewers_read_the_panel_without_run_buttons(client, viewer, incident, runbook):
    client.force_login(viewer)
    content = client.get(reverse("runbooks:ticket-panel", args=[incident.pk])).content.decode()
    assert 'data-testid="runbooks-panel"' in content and "run-runbook" not in content
    refused = client.post(reverse("runbooks:ticket-run", args=[incident.pk, runbook.pk]), {}, **HTMX)
    assert "Only agents" in refused.content.decode() and not RunbookExecution.objects.exists()


def test_an_items_executions_in_a_fixed_number_of_queries(
    client, agent, incident, runbook, web01, django_assert_num_queries
):
    for _ in range(3):
        execution = actions.do_request_execution(incident, runbook, actor=agent)
        actions.do_cancel_execution(execution, actor=agent)
    client.force_login(agent)
    url = reverse("runbooks:item-executions", args=[web01.pk])
    client.get(url)
    with django_assert_num_queries(5):
        response = client.get(url)
    assert response.content.decode().count(incident.number) == 3


def test_the_settings_page_is_for_admins(client, admin_user, agent):
    url = reverse("runbooks:settings")
    client.force_login(agent)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    assert 'data-testid="runbook-settings-form"' in client.get(url).content.decode()
    bad = client.post(url, {"mode": "auto", "threshold": "2"})
    assert bad.status_code == 400 and RunbookSettings.load().mode == "hil"
    saved = client.post(url, {"mode": "auto", "threshold": "0.75"})
    assert saved.status_code == 302
    row = RunbookSettings.load()
    assert (row.mode, row.threshold, row.updated_by) == ("auto", 0.75, admin_user)


def test_the_ticket_page_and_the_item_page_load_the_panels(client, agent, incident, web01):
    client.force_login(agent)
    ticket_page = client.get(reverse("tickets:ticket-detail", args=[incident.pk])).content.decode()
    assert reverse("runbooks:ticket-panel", args=[incident.pk]) in ticket_page
    item_page = client.get(reverse("cmdb:item-detail", args=[web01.pk])).content.decode()
    assert reverse("runbooks:item-executions", args=[web01.pk]) in item_page


def test_the_panel_reads_a_fixed_number_of_queries_whatever_the_executions(
    client, agent, incident, runbook, make_runbook, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_runbook(STEPS, name="Another", parameters=SERVICE)
    client.force_login(agent)
    url = reverse("runbooks:ticket-panel", args=[incident.pk])
    actions.do_request_execution(incident, runbook, actor=agent)
    client.get(url, **HTMX)  # warm the session and the content-type cache
    with CaptureQueriesContext(connection) as one:
        client.get(url, **HTMX)
    for _ in range(4):  # one active execution of a runbook per ticket: cancel it, ask again
        actions.do_cancel_execution(RunbookExecution.objects.get(status="pending_approval"), actor=agent)
        actions.do_request_execution(incident, runbook, actor=agent)
    assert RunbookExecution.objects.count() == 5
    with django_assert_num_queries(len(one)):
        client.get(url, **HTMX)
