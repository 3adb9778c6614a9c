"""The runbooks API: connections (secrets never returned), runbooks and versions, matches,
execute (202), approve / reject / cancel, settings; every 4xx changes nothing."""

from __future__ import annotations

import json

import pytest
from django.db import ProgrammingError, transaction

from itsm.approvals.models import ApprovalRequest
from itsm.models import AutomationEvent
from runbooks.models import (
    ExecutionStatus,
    InfrastructureConnection,
    Runbook,
    RunbookExecution,
    RunbookSettings,
    RunbookVersion,
)
from runbooks.tests.conftest import HTTP_TOKEN

pytestmark = pytest.mark.django_db

CONNECTIONS = "/api/runbooks/connections/"
RUNBOOKS = "/api/runbooks/"
SSH_STEP = {
    "name": "Restart",
    "type": "ssh",
    "command": "echo restart {service}",
    "rollback": {"command": "echo undo"},
}
SERVICE = [{"name": "service", "type": "string", "default": "nginx"}]


# --- connections -----------------------------------------------------------------------------------
def test_a_connection_secret_is_stored_encrypted_and_never_answered(api_for, admin_user, ssh_server):
    body = {
        "name": "db01",
        "kind": "ssh",
        "host": "db01.example.com",
        "username": "ops",
        "host_key_fingerprint": ssh_server.fingerprint,
        "secret": ssh_server.client_key,
    }
    response = api_for(admin_user).post(CONNECTIONS, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["has_secret"] is True
    connection = InfrastructureConnection.objects.get(name="db01")
    assert ssh_server.client_key not in connection.secret_ciphertext
    assert connection.reveal_secret() == ssh_server.client_key
    key_line = ssh_server.client_key.splitlines()[1]
    for url in (CONNECTIONS, f"{CONNECTIONS}{connection.pk}/"):
        text = api_for(admin_user).get(url).content.decode()
        assert (
            key_line not in text
            and "secret_ciphertext" not in text
            and connection.secret_ciphertext not in text
        )
    events = AutomationEvent.objects.filter(action="runbooks.connection_created")
    assert events.count() == 1 and key_line not in json.dumps(events.get().after)
    assert events.get().after["secret"] == "changed"
    assert key_line not in repr(connection) and key_line not in str(connection)


def test_patching_without_a_secret_keeps_it_and_an_empty_one_is_refused_for_ssh(
    api_for, admin_user, ssh_connection
):
    url = f"{CONNECTIONS}{ssh_connection.pk}/"
    kept = api_for(admin_user).patch(url, {"description": "rack 4"}, format="json")
    assert kept.status_code == 200 and kept.json()["has_secret"] is True
    cleared = api_for(admin_user).patch(url, {"secret": ""}, format="json")
    assert cleared.status_code == 400 and "secret" in cleared.json()
    ssh_connection.refresh_from_db()
    assert ssh_connection.has_secret


def test_bad_connections_are_refused_with_nothing_stored_and_no_secret_echoed(api_for, admin_user):
    secret = "pa55-word-never-echoed"  # pragma: allowlist secret
    bad = {
        "name": "x",
        "kind": "ssh",
        "host": "h",
        "username": "u",
        "host_key_fingerprint": "md5:aa",
        "secret": secret,
    }
    response = api_for(admin_user).post(CONNECTIONS, bad, format="json")
    assert response.status_code == 400 and "host_key_fingerprint" in response.json()
    assert secret not in response.content.decode()
    no_url = api_for(admin_user).post(
        CONNECTIONS, {"name": "y", "kind": "http", "base_url": "ftp://x"}, format="json"
    )
    assert no_url.status_code == 400 and "base_url" in no_url.json()
    assert api_for(admin_user).post(CONNECTIONS, {"kind": "http"}, format="json").status_code == 400
    assert not InfrastructureConnection.objects.exists()
    assert not AutomationEvent.objects.filter(action__startswith="runbooks.connection").exists()


def test_only_admins_write_connections_and_requesters_see_none(
    api_for, agent, viewer, requester, http_connection
):
    body = {"name": "z", "kind": "http", "base_url": "https://z.example.com"}
    assert api_for(agent).post(CONNECTIONS, body, format="json").status_code == 403
    assert (
        api_for(agent)
        .patch(f"{CONNECTIONS}{http_connection.pk}/", {"enabled": False}, format="json")
        .status_code
        == 403
    )
    assert api_for(viewer).get(CONNECTIONS).json()["count"] == 1
    assert api_for(requester).get(CONNECTIONS).status_code == 403
    assert InfrastructureConnection.objects.get().enabled is True
    text = api_for(viewer).get(CONNECTIONS).content.decode()
    assert HTTP_TOKEN not in text


# --- runbooks and versions -----------------------------------------------------------------------------
def test_a_published_version_never_changes_edits_make_a_new_draft(api_for, admin_user):
    created = api_for(admin_user).post(
        RUNBOOKS, {"name": "Restart", "steps": [SSH_STEP], "parameters": SERVICE}, format="json"
    )
    assert created.status_code == 201, created.content
    runbook_id = created.json()["id"]
    assert created.json()["draft"]["number"] == 1 and created.json()["published"] is None
    published = api_for(admin_user).post(f"{RUNBOOKS}{runbook_id}/publish/")
    assert published.status_code == 200 and published.json()["published"]["number"] == 1
    assert api_for(admin_user).post(f"{RUNBOOKS}{runbook_id}/publish/").status_code == 409
    edited = api_for(admin_user).patch(f"{RUNBOOKS}{runbook_id}/", {"safe_for_auto": True}, format="json")
    assert edited.status_code == 200
    body = edited.json()
    assert body["published"]["number"] == 1 and body["published"]["safe_for_auto"] is False
    assert body["draft"]["number"] == 2 and body["draft"]["safe_for_auto"] is True
    assert body["draft"]["steps"] == [SSH_STEP]
    # The database refuses a change to a published version, whoever tries.
    with pytest.raises(ProgrammingError), transaction.atomic():
        RunbookVersion.objects.filter(runbook_id=runbook_id, number=1).update(safe_for_auto=True)
    with pytest.raises(ProgrammingError), transaction.atomic():
        RunbookVersion.objects.filter(runbook_id=runbook_id, number=1).delete()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "R", "steps": []}, "steps"),
        ({"name": "R", "steps": [{"name": "x", "type": "telnet"}]}, "steps[0].type"),
        (
            {"name": "R", "steps": [{"name": "x", "type": "ssh", "command": "echo {nope}"}]},
            "steps[0].command",
        ),
        ({"name": "R", "steps": [SSH_STEP], "parameters": [{"name": "Bad Name"}]}, "parameters[0].name"),
        ({"name": "R", "steps": [dict(SSH_STEP, timeout=0)], "parameters": SERVICE}, "steps[0].timeout"),
        (
            {"name": "R", "steps": [SSH_STEP], "parameters": SERVICE, "allowed_environments": ["moon"]},
            "allowed_environments",
        ),
        ({"name": "R", "steps": [SSH_STEP], "parameters": SERVICE, "colour": "red"}, "colour"),
    ],
)
def test_bad_runbooks_are_refused_and_nothing_is_created(api_for, admin_user, body, field):
    response = api_for(admin_user).post(RUNBOOKS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not Runbook.objects.exists()


def test_agents_cannot_write_runbooks(api_for, agent):
    assert api_for(agent).post(RUNBOOKS, {"name": "R", "steps": [SSH_STEP]}, format="json").status_code == 403
    assert not Runbook.objects.exists()


# --- matching and executing ------------------------------------------------------------------------------
def test_matches_come_with_confidence_and_reasons(api_for, agent, incident, ssh_connection, make_runbook):
    make_runbook([SSH_STEP], parameters=SERVICE)
    make_runbook([SSH_STEP], name="Unrelated", parameters=SERVICE, match={"keywords": ["printer"]})
    response = api_for(agent).get(f"/api/tickets/{incident.pk}/runbooks/")
    assert response.status_code == 200
    [match] = response.json()
    assert match["runbook"]["name"] == "Restart a service"
    assert match["item"]["name"] == "web01" and match["allowed"] is True
    assert any("restart" in reason for reason in match["reasons"])
    assert any("web01" in reason for reason in match["reasons"])
    # keyword (1.0) + item type (1.5) → 1 - exp(-1.25)
    assert match["confidence"] == pytest.approx(0.713, abs=0.001)


def test_execute_in_hil_waits_for_approval_and_the_lead_approves(
    api_for, agent, lead, incident, ssh_connection, make_runbook
):
    runbook = make_runbook([SSH_STEP], parameters=SERVICE)
    url = f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/"
    response = api_for(agent).post(url, {"parameters": {"service": "nginx"}}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending_approval" and body["approval"]["status"] == "pending"
    assert [step["status"] for step in body["steps"]] == ["pending"]
    execution_url = f"/api/runbooks/executions/{body['id']}/"
    # One's own execution: refused, nothing changes.
    own = api_for(agent).post(f"{execution_url}approve/", {}, format="json")
    assert own.status_code == 403
    approved = api_for(lead).post(f"{execution_url}approve/", {"comment": "go"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "queued"
    again = api_for(lead).post(f"{execution_url}approve/", {}, format="json")
    assert again.status_code == 409
    assert RunbookExecution.objects.get().status == ExecutionStatus.QUEUED
    assert ApprovalRequest.objects.get().status == "approved"


def test_reject_needs_a_comment_and_then_nothing_runs(
    api_for, agent, lead, incident, ssh_connection, make_runbook
):
    runbook = make_runbook([SSH_STEP], parameters=SERVICE)
    body = (
        api_for(agent)
        .post(f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/", {}, format="json")
        .json()
    )
    url = f"/api/runbooks/executions/{body['id']}/reject/"
    assert api_for(lead).post(url, {}, format="json").status_code == 400
    assert RunbookExecution.objects.get().status == ExecutionStatus.PENDING_APPROVAL
    rejected = api_for(lead).post(url, {"comment": "not during business hours"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert {step["status"] for step in rejected.json()["steps"]} == {"skipped"}


@pytest.mark.parametrize(
    "parameters, field",
    [
        ({"service": "a\nb"}, "parameters.service"),
        ({"unknown": "x"}, "parameters"),
        ({"count": "many"}, "parameters.count"),
        ("not-an-object", "parameters"),
    ],
)
def test_bad_parameters_are_refused_and_nothing_is_written(
    api_for, agent, incident, ssh_connection, make_runbook, parameters, field
):
    runbook = make_runbook(
        [SSH_STEP], parameters=[*SERVICE, {"name": "count", "type": "integer", "default": 1, "max": 5}]
    )
    response = api_for(agent).post(
        f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/",
        {"parameters": parameters},
        format="json",
    )
    assert response.status_code == 400 and field in response.json(), response.content
    assert not RunbookExecution.objects.exists() and not ApprovalRequest.objects.exists()


def test_a_runbook_not_allowed_in_the_items_environment_is_refused(
    api_for, agent, incident, ssh_connection, make_runbook
):
    runbook = make_runbook([SSH_STEP], parameters=SERVICE, allowed_environments=["dev"])
    response = api_for(agent).post(
        f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/", {}, format="json"
    )
    assert response.status_code == 400 and "not allowed" in response.json()["runbook"][0]
    assert not RunbookExecution.objects.exists()
    [match] = api_for(agent).get(f"/api/tickets/{incident.pk}/runbooks/").json()
    assert match["allowed"] is False and "Production" in match["blocked"]


def test_a_step_without_an_enabled_connection_is_refused(api_for, agent, incident, make_runbook):
    runbook = make_runbook([SSH_STEP], parameters=SERVICE)
    response = api_for(agent).post(
        f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/", {}, format="json"
    )
    assert response.status_code == 400 and "connection" in response.json()["runbook"][0]
    assert not RunbookExecution.objects.exists()


def test_requesters_viewers_and_other_tickets(
    api_for, requester, viewer, incident, ssh_connection, make_runbook
):
    runbook = make_runbook([SSH_STEP], parameters=SERVICE)
    url = f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/"
    assert api_for(requester).get(f"/api/tickets/{incident.pk}/runbooks/").status_code == 403
    assert api_for(viewer).post(url, {}, format="json").status_code == 403
    assert api_for(viewer).get(f"/api/tickets/{incident.pk}/runbooks/").status_code == 200
    assert api_for(viewer).post(
        f"/api/tickets/999999/runbooks/{runbook.pk}/execute/", {}, format="json"
    ).status_code in (403, 404)
    assert not RunbookExecution.objects.exists()


def test_cancel_before_it_starts_withdraws_the_approval(
    api_for, agent, incident, ssh_connection, make_runbook
):
    runbook = make_runbook([SSH_STEP], parameters=SERVICE)
    body = (
        api_for(agent)
        .post(f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/", {}, format="json")
        .json()
    )
    url = f"/api/runbooks/executions/{body['id']}/cancel/"
    cancelled = api_for(agent).post(url, {}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert ApprovalRequest.objects.get().status == "cancelled"
    assert api_for(agent).post(url, {}, format="json").status_code == 409


def test_executions_list_filters_and_bad_filters(
    api_for, agent, incident, ssh_connection, make_runbook, django_assert_max_num_queries
):
    runbook = make_runbook([SSH_STEP], parameters=SERVICE)
    for _ in range(3):
        api_for(agent).post(f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/", {}, format="json")
        RunbookExecution.objects.filter(status="pending_approval").update(status="rejected")
    client = api_for(agent)
    with django_assert_max_num_queries(12):
        listed = client.get(f"/api/runbooks/executions/?ticket={incident.pk}")
    assert listed.status_code == 200 and listed.json()["count"] == 3
    assert client.get("/api/runbooks/executions/?ticket=x").status_code == 400
    assert client.get("/api/runbooks/executions/?status=bogus").status_code == 400


# --- settings ----------------------------------------------------------------------------------------
def test_settings_read_by_staff_changed_by_admins_and_validated(api_for, admin_user, agent):
    url = "/api/runbooks/settings/"
    assert api_for(agent).get(url).json() == {"mode": "hil", "threshold": 0.8}
    assert api_for(agent).put(url, {"mode": "auto", "threshold": 0.9}, format="json").status_code == 403
    for bad in ({"mode": "yolo", "threshold": 0.9}, {"mode": "auto", "threshold": 1.5}, {"mode": "auto"}):
        assert api_for(admin_user).put(url, bad, format="json").status_code == 400
    assert RunbookSettings.load().mode == "hil"
    changed = api_for(admin_user).put(url, {"mode": "auto", "threshold": 0.9}, format="json")
    assert changed.status_code == 200 and changed.json() == {"mode": "auto", "threshold": 0.9}
    assert AutomationEvent.objects.filter(action="runbooks.settings_changed").count() == 1


def test_a_doubled_execute_request_starts_nothing_twice(
    api_for, agent, incident, ssh_connection, make_runbook
):
    runbook = make_runbook([SSH_STEP], parameters=SERVICE)
    url = f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/"
    assert api_for(agent).post(url, {}, format="json").status_code == 202
    again = api_for(agent).post(url, {}, format="json")
    assert again.status_code == 409 and "already waiting or running" in again.json()["detail"]
    assert RunbookExecution.objects.count() == 1 and ApprovalRequest.objects.count() == 1


def test_the_approvals_page_names_the_execution_without_reading_more_rows(
    client, agent, lead, incident, ssh_connection, make_runbook
):
    from runbooks import actions

    runbook = make_runbook([SSH_STEP], parameters=SERVICE)
    execution = actions.do_request_execution(incident, runbook, actor=agent)
    assert execution.label == f"Restart a service v1 on {incident.number}"
    client.force_login(lead)
    page = client.get("/approvals/").content.decode()
    assert f"Restart a service v1 on {incident.number}" in page


def test_an_expired_approval_leaves_the_execution_not_run(agent, incident, ssh_connection, make_runbook):
    import datetime

    import time_machine
    from django.utils import timezone

    from itsm.approvals.actions import do_expire_approvals
    from runbooks import actions

    execution = actions.do_request_execution(
        incident, make_runbook([SSH_STEP], parameters=SERVICE), actor=agent
    )
    with time_machine.travel(timezone.now() + datetime.timedelta(days=30)):
        assert do_expire_approvals() == 1
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.REJECTED and "expired" in execution.summary
    assert not execution.step_runs.exclude(status="skipped").exists()
