"""The admin (mappings editable, sync state readable, retry actions) and the periodic sweep."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from integrations.jira.mapper import Mappings
from integrations.jira.models import (
    ChangeKind,
    ChangeState,
    JiraLink,
    OutboundChange,
    StatusMapping,
    WebhookReceipt,
)
from integrations.jira.queueing import sweep_waiting
from integrations.jira.tests.fakejira import fixture

pytestmark = pytest.mark.django_db
MODELS = [
    "statusmapping",
    "prioritymapping",
    "issuetypemapping",
    "fieldmapping",
    "accountmapping",
    "projectkey",
    "jiralink",
    "jiracomment",
    "webhookreceipt",
    "outboundchange",
    "reconcilerun",
]


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def fail_jobs(task: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'failed' WHERE task_name = %s AND status = 'todo'", [task]
        )


@pytest.mark.parametrize("model", MODELS)
def test_every_jira_model_has_an_admin_page(admin_client, model, deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-comment-created.json"))
    process()
    assert admin_client.get(f"/admin/jira/{model}/").status_code == 200


def test_agents_cannot_open_the_jira_admin(client, agent):
    client.force_login(agent)
    assert client.get("/admin/jira/statusmapping/").status_code == 302


def test_a_mapping_edited_in_the_admin_changes_what_inbound_does(admin_client, deliver, process):
    row = StatusMapping.objects.get(jira_status="Waiting for support")
    response = admin_client.post(
        f"/admin/jira/statusmapping/{row.pk}/change/",
        {"jira_status": "Waiting for support", "local_status": "in_progress"},
    )
    assert response.status_code == 302
    Mappings.load()
    deliver(fixture("jira-webhook-issue-created.json"))
    process()
    assert JiraLink.objects.get().ticket.status == "in_progress"


def test_the_defaults_map_every_ticket_status_for_pushing():
    pushed = dict(StatusMapping.objects.filter(push=True).values_list("local_status", "jira_status"))
    assert pushed["resolved"] == "Resolved"
    assert pushed["pending_customer"] == "Waiting for customer"
    assert set(pushed) == {
        "open",
        "in_progress",
        "pending_customer",
        "pending_vendor",
        "resolved",
        "closed",
        "cancelled",
    }


def test_failed_changes_can_be_retried_from_the_admin(admin_client, fake_jira, make_ticket, new_jobs):
    ticket = make_ticket("VPN down")
    OutboundChange.objects.update(state=ChangeState.FAILED, last_error="Field 'x' is required")
    fail_jobs("integrations.jira.tasks.push_ticket")
    response = admin_client.post(
        "/admin/jira/outboundchange/",
        {"action": "retry", "_selected_action": list(OutboundChange.objects.values_list("pk", flat=True))},
    )
    assert response.status_code == 302
    assert OutboundChange.objects.get().state == ChangeState.PENDING
    assert new_jobs("integrations.jira.tasks.push_ticket", status="todo", ticket=ticket) == 1


def test_a_receipt_can_be_processed_again_from_the_admin(admin_client, deliver, process, new_jobs):
    deliver(fixture("jira-webhook-issue-created.json"))
    process()
    receipt = WebhookReceipt.objects.get()
    response = admin_client.post(
        "/admin/jira/webhookreceipt/", {"action": "process_again", "_selected_action": [receipt.pk]}
    )
    assert response.status_code == 302
    receipt.refresh_from_db()
    assert receipt.state == "pending"
    (outcome,) = process()
    assert outcome.result == "unchanged"


def test_the_sweep_requeues_work_whose_jobs_gave_up(fake_jira, deliver, make_ticket, new_jobs):
    deliver(fixture("jira-webhook-issue-created.json"))
    ticket = make_ticket("VPN down")
    assert OutboundChange.objects.get().kind == ChangeKind.CREATE_ISSUE
    assert sweep_waiting() == {"receipts": 0, "pushes": 0}  # young, and their jobs are queued
    fail_jobs("integrations.jira.tasks.process_receipt")
    fail_jobs("integrations.jira.tasks.push_ticket")
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert sweep_waiting() == {"receipts": 1, "pushes": 1}
        assert sweep_waiting() == {"receipts": 0, "pushes": 0}  # already queued again
    assert new_jobs("integrations.jira.tasks.push_ticket", status="todo", ticket=ticket) == 1


def test_two_push_targets_for_one_status_are_refused_in_the_admin(admin_client):
    row = StatusMapping.objects.get(jira_status="Done")
    response = admin_client.post(
        f"/admin/jira/statusmapping/{row.pk}/change/",
        {"jira_status": "Done", "local_status": "resolved", "push": "on"},
    )
    assert response.status_code == 200  # the form comes back with the error
    assert StatusMapping.objects.get(pk=row.pk).push is False
