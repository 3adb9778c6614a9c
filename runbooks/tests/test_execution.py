"""Executions in the real worker against a real SSH server and a real HTTP server on 127.0.0.1.

The scenarios of the issue: three steps succeed; step 2 fails and steps 2 (partial) and 1
roll back in reverse; the worker dies between steps and the execution resumes without
rerunning step 1; a step interrupted mid-way becomes ``unknown``; a wrong host key refuses;
shell metacharacters in parameters stay data; secrets never appear in outputs.
"""

from __future__ import annotations

import datetime
import json
import logging

import pytest
import time_machine
from django.utils import timezone

from integrations.webhooks.transport import SIGNATURE_HEADER, verify_signature
from itsm.models import AutomationEvent, Notification
from runbooks import actions, signals
from runbooks.executor import run_execution
from runbooks.models import ExecutionStatus, RunbookExecution
from runbooks.tasks import resume_executions
from runbooks.tests.conftest import HTTP_TOKEN, SSH_PASSWORD, WEBHOOK_SECRET
from tickets.models import Comment

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE = [{"name": "service", "type": "string", "default": "nginx"}]
THREE_STEPS = [
    {
        "name": "Stop",
        "type": "ssh",
        "command": "echo stopped {service} > stop.txt",
        "rollback": {"command": "rm stop.txt"},
    },
    {
        "name": "Clear",
        "type": "ssh",
        "command": "echo cleared > clear.txt",
        "rollback": {"command": "rm clear.txt"},
    },
    {"name": "Start", "type": "ssh", "command": "cat stop.txt clear.txt", "check": {"contains": "cleared"}},
]


@pytest.fixture(autouse=True)
def _fresh_ssh_log(ssh_server):
    ssh_server.clear()
    yield


def approved(execution, lead):
    return actions.do_decide_execution(execution, actor=lead, approve=True, comment="go")


def request(incident, runbook, agent, **parameters):
    return actions.do_request_execution(incident, runbook, actor=agent, parameters=parameters or None)


def steps_of(execution):
    return list(execution.step_runs.order_by("position").values_list("status", "rollback_status"))


def test_three_steps_succeed_in_the_worker_and_the_ticket_shows_it(
    incident, agent, lead, ssh_connection, make_runbook, ssh_server, run_worker
):
    runbook = make_runbook(THREE_STEPS, parameters=SERVICE, resolve_on_success=True)
    execution = approved(request(incident, runbook, agent), lead)
    assert execution.status == ExecutionStatus.QUEUED
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.summary
    assert steps_of(execution) == [
        ("succeeded", "not_needed"),
        ("succeeded", "not_needed"),
        ("succeeded", "none"),
    ]
    assert ssh_server.commands == [
        "echo stopped nginx > stop.txt",
        "echo cleared > clear.txt",
        "cat stop.txt clear.txt",
    ]
    last = execution.step_runs.get(position=2)
    assert last.exit_code == 0 and "stopped nginx" in last.output and last.started_at <= last.finished_at
    note = Comment.objects.get(ticket=incident, internal=True, author_label="system:runbooks")
    assert "Succeeded" in note.body and "3. Start: succeeded" in note.body
    incident.refresh_from_db()
    assert incident.status == "resolved" and "All 3 steps" in incident.resolution
    actions_seen = set(
        AutomationEvent.objects.filter(subject_id=str(execution.pk)).values_list("action", flat=True)
    )
    assert {
        "runbooks.execution_started",
        "runbooks.step_succeeded",
        "runbooks.execution_succeeded",
    } <= actions_seen
    # A second job for the finished execution (a redelivery) changes nothing.
    run_execution(execution.pk)
    assert len(ssh_server.commands) == 3


def test_step_two_fails_and_two_then_one_roll_back_in_reverse(
    incident, agent, lead, ssh_connection, make_runbook, ssh_server, run_worker
):
    steps = [
        THREE_STEPS[0],
        {
            "name": "Clear",
            "type": "ssh",
            "command": "echo partial > clear.txt; exit 3",
            "rollback": {"command": "rm clear.txt"},
        },
        THREE_STEPS[2],
    ]
    execution = approved(request(incident, make_runbook(steps, parameters=SERVICE), agent), lead)
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert steps_of(execution) == [("succeeded", "succeeded"), ("failed", "succeeded"), ("skipped", "none")]
    assert ssh_server.commands == [
        "echo stopped nginx > stop.txt",
        "echo partial > clear.txt; exit 3",
        "rm clear.txt",
        "rm stop.txt",
    ]
    assert not list(ssh_server.workdir.iterdir())
    failed = execution.step_runs.get(position=1)
    assert failed.exit_code == 3 and "exit code 3, expected 0" in failed.error
    assert "Step 2 (Clear) failed" in execution.summary


def test_a_failed_rollback_ends_rollback_failed_and_alerts_the_team(
    incident, agent, lead, team, ssh_connection, make_runbook, ssh_server, run_worker
):
    steps = [
        {"name": "Touch", "type": "ssh", "command": "touch a", "rollback": {"command": "exit 9"}},
        {"name": "Fail", "type": "ssh", "command": "exit 1"},
    ]
    execution = approved(request(incident, make_runbook(steps, parameters=SERVICE), agent), lead)
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.ROLLBACK_FAILED
    first = execution.step_runs.get(position=0)
    assert first.rollback_status == "failed" and first.rollback_exit_code == 9
    alerted = set(
        Notification.objects.filter(verb="runbook_alert").values_list("recipient__email", flat=True)
    )
    assert alerted >= {member.email for member in team.members.all()}


def test_the_worker_dies_between_steps_and_the_execution_resumes_without_rerunning_step_one(
    incident, agent, lead, ssh_connection, make_runbook, ssh_server, run_worker
):
    execution = approved(request(incident, make_runbook(THREE_STEPS, parameters=SERVICE), agent), lead)

    class WorkerDied(BaseException):
        pass

    def die_after_step_one(sender, step, **kwargs):
        if step.position == 0:
            raise WorkerDied

    signals.step_finished.connect(die_after_step_one, dispatch_uid="test-die")
    try:
        with pytest.raises(WorkerDied):
            run_execution(execution.pk)
    finally:
        signals.step_finished.disconnect(dispatch_uid="test-die")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING and execution.lease_until is not None
    assert steps_of(execution)[0] == ("succeeded", "pending") and steps_of(execution)[1][0] == "pending"
    # While the dead worker's lease runs, another job leaves the execution alone.
    assert run_execution(execution.pk).startswith("held")
    with time_machine.travel(execution.lease_until + datetime.timedelta(seconds=1), tick=True):
        resume_executions.defer(timestamp=0)
        run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert ssh_server.commands.count("echo stopped nginx > stop.txt") == 1
    assert len(ssh_server.commands) == 3


def test_a_step_interrupted_mid_way_is_unknown_and_stops_for_a_human(
    incident, agent, lead, ssh_connection, make_runbook, ssh_server, run_worker
):
    execution = approved(request(incident, make_runbook(THREE_STEPS, parameters=SERVICE), agent), lead)

    class WorkerDied(BaseException):
        pass

    def die_during_step_two(sender, step, **kwargs):
        if step.position == 1:
            raise WorkerDied

    signals.step_started.connect(die_during_step_two, dispatch_uid="test-die-mid")
    try:
        with pytest.raises(WorkerDied):
            run_execution(execution.pk)
    finally:
        signals.step_started.disconnect(dispatch_uid="test-die-mid")
    execution.refresh_from_db()
    with time_machine.travel(execution.lease_until + datetime.timedelta(seconds=1), tick=True):
        resume_executions.defer(timestamp=0)
        run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.NEEDS_ATTENTION
    assert steps_of(execution)[:2] == [("succeeded", "pending"), ("unknown", "pending")]
    assert ssh_server.commands == ["echo stopped nginx > stop.txt"]  # nothing rerun, nothing rolled back
    assert Notification.objects.filter(verb="runbook_alert", subject_id=str(execution.pk)).exists()


def test_a_wrong_host_key_is_refused_before_any_command(
    incident, agent, lead, admin_user, ssh_connection, make_runbook, ssh_server, run_worker
):
    actions.do_save_connection(
        ssh_connection, actor=admin_user, values={"host_key_fingerprint": "SHA256:" + "B" * 43}
    )
    execution = approved(request(incident, make_runbook(THREE_STEPS, parameters=SERVICE), agent), lead)
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    first = execution.step_runs.get(position=0)
    assert (
        first.status == "failed"
        and "host key refused" in first.error
        and ssh_server.fingerprint in first.error
    )
    assert ssh_server.commands == []


def test_ssh_to_this_machine_is_refused_unless_allowed(
    settings, incident, agent, lead, ssh_connection, make_runbook, ssh_server, run_worker
):
    settings.RUNBOOKS_ALLOW_LOCAL_TARGETS = False
    execution = approved(request(incident, make_runbook(THREE_STEPS, parameters=SERVICE), agent), lead)
    run_worker(queues=["runbooks"])
    first = RunbookExecution.objects.get(pk=execution.pk).step_runs.get(position=0)
    assert "never run commands on the platform's own machine" in first.error
    assert ssh_server.commands == []


def test_shell_metacharacters_in_parameters_stay_data(
    incident, agent, lead, ssh_connection, make_runbook, ssh_server, run_worker
):
    steps = [{"name": "Write", "type": "ssh", "command": "printf '%s' {value} > got.txt"}]
    parameters = [{"name": "value", "type": "string"}]
    value = 'x\'; touch pwned; $(touch pwned2) `touch pwned3` | cat && echo "hi" > out & rm -rf ~ #'
    execution = approved(
        request(incident, make_runbook(steps, parameters=parameters), agent, value=value), lead
    )
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.summary
    assert (ssh_server.workdir / "got.txt").read_text() == value
    assert sorted(path.name for path in ssh_server.workdir.iterdir()) == ["got.txt"]


def test_secrets_never_appear_in_outputs_events_notes_or_logs(
    incident,
    agent,
    lead,
    admin_user,
    web01,
    make_runbook,
    ssh_server,
    http_server,
    run_worker,
    caplog,
    api_for,
):
    ssh = actions.do_save_connection(
        None,
        actor=admin_user,
        values={
            "name": "pw",
            "kind": "ssh",
            "host": "127.0.0.1",
            "port": ssh_server.port,
            "username": "runner",
            "ssh_auth": "password",
            "host_key_fingerprint": ssh_server.fingerprint,
        },
        secret=SSH_PASSWORD,
        items=[web01],
    )
    actions.do_save_connection(
        None,
        actor=admin_user,
        values={"name": "api", "kind": "http", "base_url": http_server.url, "auth_header": "Authorization"},
        secret=HTTP_TOKEN,
    )
    (ssh_server.workdir / "leak.txt").write_text(f"password={SSH_PASSWORD}\n")
    steps = [
        {"name": "Leak over SSH", "type": "ssh", "command": "cat leak.txt"},
        {
            "name": "Leak over HTTP",
            "type": "http",
            "target": "api",
            "method": "POST",
            "path": "/echo",
            "body": {"token": HTTP_TOKEN},
        },
        {"name": "Fail", "type": "ssh", "command": f"echo {SSH_PASSWORD} >&2; exit 1"},
    ]
    caplog.set_level(logging.DEBUG)
    execution = approved(request(incident, make_runbook(steps), agent), lead)
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED and ssh.pk
    outputs = list(execution.step_runs.values_list("output", "error", "rendered"))
    assert "password=••••••" in outputs[0][0] and "••••••" in outputs[1][0]
    everything = "\n".join(
        [
            json.dumps(outputs),
            api_for(agent).get(f"/api/runbooks/executions/{execution.pk}/").content.decode(),
            json.dumps(list(AutomationEvent.objects.values_list("before", "after", "reason"))),
            "\n".join(Comment.objects.values_list("body", flat=True)),
            "\n".join(Notification.objects.values_list("body", flat=True)),
            caplog.text,
        ]
    )
    assert SSH_PASSWORD not in everything and HTTP_TOKEN.split()[1] not in everything
    assert ssh_server.commands[0] == "cat leak.txt"


def test_http_and_signed_webhook_steps(
    incident, agent, lead, admin_user, http_connection, make_runbook, http_server, run_worker
):
    actions.do_save_connection(
        None,
        actor=admin_user,
        values={"name": "n8n", "kind": "webhook", "base_url": f"{http_server.url}/hook"},
        secret=WEBHOOK_SECRET,
    )
    steps = [
        {
            "name": "Flush",
            "type": "http",
            "target": "api",
            "method": "POST",
            "path": "/queues/{queue}/flush",
            "body": {"queue": "{queue}"},
        },
        {
            "name": "Tell n8n",
            "type": "webhook",
            "target": "n8n",
            "event": "queue.flushed",
            "body": {"queue": "{queue}"},
        },
        {"name": "Check", "type": "http", "target": "api", "path": "/status/503", "check": {"status": [200]}},
    ]
    parameters = [{"name": "queue", "type": "string"}]
    start = len(http_server.requests)
    execution = approved(
        request(incident, make_runbook(steps, parameters=parameters), agent, queue="mail/out"), lead
    )
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    flush, hook, check = http_server.requests[start : start + 3]
    assert flush["path"] == "/queues/mail%2Fout/flush" and json.loads(flush["body"]) == {"queue": "mail/out"}
    assert flush["headers"]["Authorization"] == HTTP_TOKEN
    assert hook["path"] == "/hook" and json.loads(hook["body"])["data"] == {"queue": "mail/out"}
    assert verify_signature(WEBHOOK_SECRET, hook["headers"][SIGNATURE_HEADER], hook["body"].encode())
    assert check["path"] == "/status/503"
    assert execution.step_runs.get(position=2).error == "HTTP 503, expected 200"


def test_cancel_while_running_stops_after_the_current_step_and_rolls_back(
    incident, agent, lead, ssh_connection, make_runbook, ssh_server
):
    execution = approved(request(incident, make_runbook(THREE_STEPS, parameters=SERVICE), agent), lead)

    def cancel_during_step_one(sender, step, **kwargs):
        if step.position == 0:
            actions.do_cancel_execution(RunbookExecution.objects.get(pk=execution.pk), actor=agent)

    signals.step_finished.connect(cancel_during_step_one, dispatch_uid="test-cancel")
    try:
        assert run_execution(execution.pk) == ExecutionStatus.CANCELLED
    finally:
        signals.step_finished.disconnect(dispatch_uid="test-cancel")
    assert steps_of(execution) == [("succeeded", "succeeded"), ("skipped", "not_needed"), ("skipped", "none")]
    assert ssh_server.commands == ["echo stopped nginx > stop.txt", "rm stop.txt"]


def test_a_manual_step_waits_for_a_person(
    incident, agent, lead, ssh_connection, make_runbook, ssh_server, run_worker, api_for
):
    steps = [THREE_STEPS[0], {"name": "Tell the user", "type": "manual", "instructions": "Call them"}]
    execution = approved(request(incident, make_runbook(steps, parameters=SERVICE), agent), lead)
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.WAITING_MANUAL
    confirmed = api_for(agent).post(
        f"/api/runbooks/executions/{execution.pk}/confirm/", {"note": "done"}, format="json"
    )
    assert confirmed.status_code == 200
    assert (
        api_for(agent)
        .post(f"/api/runbooks/executions/{execution.pk}/confirm/", {}, format="json")
        .status_code
        == 409
    )
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED


def test_auto_mode_runs_a_confident_safe_runbook_on_a_new_ticket(
    auto_mode, make_ticket, web01, agent, ssh_connection, make_runbook, ssh_server, run_worker
):
    from cmdb.actions import do_link_ticket_item
    from tickets.models import Category

    category = Category.objects.create(name="Web servers")
    make_runbook(
        THREE_STEPS,
        parameters=SERVICE,
        needs_approval=False,
        safe_for_auto=True,
        match={"categories": ["web servers"], "keywords": ["restart"], "item_types": ["server"]},
    )
    ticket = make_ticket("Please restart nginx", category=category)
    do_link_ticket_item(ticket, web01, actor=agent)
    run_worker(queues=["runbooks"])
    execution = RunbookExecution.objects.get(ticket=ticket)
    assert execution.requested_by is None and execution.mode == "auto" and execution.confidence >= 0.8
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED and len(ssh_server.commands) == 3
    assert timezone.now() >= execution.finished_at


def test_a_step_past_its_timeout_fails_and_rolls_back(
    incident, agent, lead, ssh_connection, make_runbook, ssh_server, run_worker
):
    steps = [THREE_STEPS[0], {"name": "Hang", "type": "ssh", "command": "sleep 3", "timeout": 1}]
    execution = approved(request(incident, make_runbook(steps, parameters=SERVICE), agent), lead)
    run_worker(queues=["runbooks"])
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    hang = execution.step_runs.get(position=1)
    assert hang.status == "failed" and hang.error == "timed out after 1s"
    assert steps_of(execution)[0] == ("succeeded", "succeeded")
    assert ssh_server.commands[-1] == "rm stop.txt"
