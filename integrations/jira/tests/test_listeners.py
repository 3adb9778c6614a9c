"""What other apps plug into: claimed projects (stored, never tickets), ``delivery_processed``,
the JSM internal-comment rule, and the REST calls a backfill needs (count, comments, JQL)."""

import pytest
from django.db import connection

from integrations.jira import signals
from integrations.jira.client import JiraClient
from integrations.jira.inbound import process_receipt
from integrations.jira.mapper import is_internal_comment
from integrations.jira.models import ProjectKey, ReceiptState, WebhookReceipt
from integrations.jira.tests.conftest import payload
from integrations.jira.tests.fakejira import fixture
from integrations.jira.transport import JiraBadRequest, Transport
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def claims_hr():
    """An app claiming the HR project, and what ``delivery_processed`` told it."""
    heard = []

    def claim(sender, project_key, **kwargs):
        return project_key == "HR"

    def listen(sender, receipt, project_key, for_tickets, **kwargs):
        # Inside the transaction that marks the receipt done.
        heard.append((receipt.event, project_key, for_tickets, connection.in_atomic_block))

    signals.project_claimed.connect(claim, dispatch_uid="test-claim")
    signals.delivery_processed.connect(listen, dispatch_uid="test-listen")
    yield heard
    signals.project_claimed.disconnect(dispatch_uid="test-claim")
    signals.delivery_processed.disconnect(dispatch_uid="test-listen")


def hr_delivery(name="jira-webhook-issue-created.json"):
    data = payload(name, project={"key": "HR", "id": "1"})
    data["issue"]["key"] = "HR-7"
    return data


def test_a_claimed_project_is_stored_and_handed_to_listeners_never_ticketed(deliver, claims_hr):
    assert deliver(hr_delivery()).status_code == 202
    assert deliver(hr_delivery("jira-webhook-comment-created.json")).status_code == 202
    receipts = list(WebhookReceipt.objects.order_by("pk"))
    assert [receipt.for_tickets for receipt in receipts] == [False, False]
    outcomes = [process_receipt(receipt) for receipt in receipts]
    assert [outcome.result for outcome in outcomes] == ["listeners", "listeners"]
    assert Ticket.objects.count() == 0
    assert set(WebhookReceipt.objects.values_list("state", flat=True)) == {ReceiptState.PROCESSED}
    assert claims_hr == [
        ("jira:issue_created", "HR", False, True),
        ("comment_created", "HR", False, True),
    ]


def test_unclaimed_projects_are_still_refused(deliver, claims_hr):
    data = payload("jira-webhook-issue-created.json", project={"key": "PAY", "id": "2"})
    data["issue"]["key"] = "PAY-1"
    assert deliver(data).status_code == 403
    assert WebhookReceipt.objects.count() == 0


def test_a_claimed_project_is_never_pinned_as_the_ticket_project(deliver, claims_hr, settings):
    settings.JIRA_PROJECT_KEY = []
    assert deliver(hr_delivery()).status_code == 202
    assert ProjectKey.objects.count() == 0
    assert deliver(fixture("jira-webhook-issue-created.json")).status_code == 202
    assert list(ProjectKey.objects.values_list("key", flat=True)) == ["ITSUP"]


def test_ticket_deliveries_are_announced_too_and_refused_ones_are_not(deliver, claims_hr):
    deliver(fixture("jira-webhook-issue-created.json"))
    outcome = process_receipt(WebhookReceipt.objects.get())
    assert outcome.result == "created" and Ticket.objects.count() == 1
    malformed = WebhookReceipt.objects.create(
        identifier="malformed", event="jira:issue_updated", payload={"issue": {"fields": {}}}
    )
    assert process_receipt(malformed) is None
    malformed.refresh_from_db()
    assert malformed.state == ReceiptState.FAILED
    assert claims_hr == [("jira:issue_created", "ITSUP", True, True)]


@pytest.mark.parametrize(
    ("comment", "internal"),
    [
        ({"jsdPublic": True}, False),
        ({"jsdPublic": False}, True),
        ({"visibility": {"type": "role", "value": "Administrators"}}, True),
        ({}, False),
        (
            {"jsdPublic": True, "properties": [{"key": "sd.public.comment", "value": {"internal": True}}]},
            True,
        ),
        ({"properties": [{"key": "sd.public.comment", "value": {"internal": "true"}}]}, True),
        ({"properties": [{"key": "sd.public.comment", "value": {"internal": False}}]}, False),
    ],
)
def test_internal_comments_by_jsd_public_visibility_or_the_sd_public_comment_property(comment, internal):
    assert is_internal_comment(comment) is internal


def client_for(fake_jira):
    return JiraClient(Transport(fake_jira.url, "sync-bot@example.com", "api-token-123", max_retries=0))


def test_the_client_counts_lists_ids_and_reads_every_comment(fake_jira):
    for number in range(1, 4):
        fake_jira.add_issue(f"HR-{number}", issue_id=str(900 + number))
    fake_jira.add_issue("ITSUP-1", issue_id="800")
    for number in range(130):
        fake_jira.add_comment(
            "HR-1",
            {"type": "doc", "version": 1, "content": []},
            created=f"2025-03-14T10:{number % 60:02d}:00.000+0000",
        )
    client = client_for(fake_jira)
    assert client.approximate_count('project = "HR"') == 3
    assert [
        ids for ids in client.search_ids('project = "HR" ORDER BY updated ASC, id ASC', max_results=2)
    ] == [
        ["901", "902"],
        ["903"],
    ]
    assert len(client.get_comments("HR-1", page_size=50)) == 130
    assert [
        seen.query["startAt"] for seen in fake_jira.requests_to("GET", "/rest/api/3/issue/HR-1/comment")
    ] == [
        ["0"],
        ["50"],
        ["100"],
    ]
    with pytest.raises(JiraBadRequest, match="Invalid JQL"):
        client.search_page("assignee = currentUser()")
