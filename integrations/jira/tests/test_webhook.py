"""POST /api/integrations/jira/webhook/: verification, storage, dedupe, projects, answers."""

import hashlib
import json

import pytest
from django.db import OperationalError, connection
from procrastinate.exceptions import TaskNotFound

from integrations.jira.inbound import (
    DeliveryRefused,
    accept_project,
    content_key,
    receive,
    store_receipt,
    verify_signature,
)
from integrations.jira.models import ProjectKey, WebhookReceipt
from integrations.jira.signals import project_claimed
from integrations.jira.tests.conftest import SECRET, payload, sign
from integrations.jira.tests.fakejira import fixture
from tickets.models import Ticket

pytestmark = pytest.mark.django_db
URL = "/api/integrations/jira/webhook/"
VECTORS = fixture("jira-webhook-signature-vectors.json")["vectors"]


@pytest.fixture
def queued_jobs(new_jobs):
    return lambda: new_jobs("integrations.jira.tasks.process_receipt")


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
def test_it_checks_the_signature_vectors(vector):
    body = vector["body"].encode()
    if vector["valid"]:
        verify_signature(body, vector["header"], vector["secret"])
    else:
        with pytest.raises(DeliveryRefused) as refused:
            verify_signature(body, vector["header"], vector["secret"])
        assert refused.value.status == 401


def test_the_documented_vector_passes_the_endpoint_then_fails_as_not_json(client, settings):
    settings.JIRA_WEBHOOK_SECRET = "It's a Secret to Everybody"
    response = client.post(
        URL, data=b"Hello World!", content_type="application/json", HTTP_X_HUB_SIGNATURE=VECTORS[0]["header"]
    )
    assert response.status_code == 400  # the signature is good; the body is not a Jira delivery
    assert WebhookReceipt.objects.count() == 0


def test_a_signed_delivery_is_stored_and_queued(deliver, queued_jobs):
    response = deliver(fixture("jira-webhook-issue-created.json"), identifier="7d1b3f6a-8f52")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    receipt = WebhookReceipt.objects.get()
    assert (receipt.identifier, receipt.event, receipt.issue_key, receipt.state) == (
        "7d1b3f6a-8f52",
        "jira:issue_created",
        "ITSUP-42",
        "pending",
    )
    assert receipt.flow == "Primary"
    assert queued_jobs() == 1
    assert Ticket.objects.count() == 0  # heavy work waits for the worker


def test_the_upsert_alias_takes_deliveries_too(deliver):
    response = deliver(fixture("jira-webhook-issue-created.json"), path="/api/integrations/jira/upsert/")
    assert response.status_code == 202
    assert WebhookReceipt.objects.count() == 1


def test_the_shared_secret_header_is_accepted(deliver):
    response = deliver(
        fixture("jira-webhook-comment-created.json"), signed=False, headers={"X-Jira-Webhook-Secret": SECRET}
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hub-Signature": "sha256=" + "0" * 64},
        {"X-Hub-Signature": "md5=" + "0" * 32},
        {"X-Hub-Signature": "sha1=" + "0" * 40},
        {"X-Hub-Signature": "garbage"},
        {"X-Hub-Signature": ""},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Jira-Webhook-Secret": "not-the-secret"},
        {},
    ],
    ids=[
        "wrong-hmac",
        "md5",
        "sha1",
        "no-method",
        "empty",
        "github-header",
        "wrong-shared-secret",
        "unsigned",
    ],
)
def test_unsigned_or_badly_signed_deliveries_get_401_and_change_nothing(deliver, queued_jobs, headers):
    response = deliver(fixture("jira-webhook-issue-created.json"), signed=False, headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == "refused"
    assert WebhookReceipt.objects.count() == 0
    assert queued_jobs() == 0


def test_a_signature_over_other_bytes_is_refused(client):
    body = json.dumps(fixture("jira-webhook-issue-created.json")).encode()
    tampered = body.replace(b"VPN", b"WAN")
    response = client.post(
        URL, data=tampered, content_type="application/json", HTTP_X_HUB_SIGNATURE=sign(body)
    )
    assert response.status_code == 401
    assert WebhookReceipt.objects.count() == 0


def test_the_signature_covers_the_raw_bytes_not_reparsed_json(client):
    body = json.dumps(fixture("jira-webhook-issue-created.json"), indent=4).encode()  # any spacing
    response = client.post(URL, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE=sign(body))
    assert response.status_code == 202


def test_without_a_secret_configured_the_webhook_is_unavailable(deliver, settings):
    settings.JIRA_WEBHOOK_SECRET = ""
    response = deliver(fixture("jira-webhook-issue-created.json"))
    assert response.status_code == 503
    assert WebhookReceipt.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"issue": {}}',
        b'{"webhookEvent": "jira:issue_created", "issue": {"key": "ITSUP-1"}}',
        b'{"webhookEvent": "comment_created", "issue": {"id": "1", "key": "ITSUP-1"}}',
    ],
)
def test_bodies_that_are_not_jira_deliveries_get_400(deliver, body):
    response = deliver(body)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert WebhookReceipt.objects.count() == 0


def test_a_redelivery_with_the_same_identifier_is_dropped(deliver, queued_jobs):
    data = fixture("jira-webhook-issue-created.json")
    assert deliver(data, identifier="same-id").status_code == 202
    second = deliver(data, identifier="same-id", headers={"X-Atlassian-Webhook-Retry": "1"})
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert WebhookReceipt.objects.count() == 1
    assert queued_jobs() == 1


def test_deliveries_of_other_projects_are_refused(deliver):
    data = payload("jira-webhook-issue-created.json", project={"key": "HR", "id": "1"})
    data["issue"]["key"] = "HR-7"
    response = deliver(data)
    assert response.status_code == 403
    assert "HR" in response.json()["detail"]
    assert WebhookReceipt.objects.count() == 0


def test_without_a_project_key_the_first_project_seen_is_pinned(deliver, settings):
    settings.JIRA_PROJECT_KEY = []
    assert deliver(fixture("jira-webhook-issue-created.json")).status_code == 202
    assert list(ProjectKey.objects.values_list("key", "detected")) == [("ITSUP", True)]
    other = payload("jira-webhook-issue-created.json", project={"key": "HR", "id": "1"})
    other["issue"]["key"] = "HR-7"
    assert deliver(other).status_code == 403


def test_events_it_does_not_handle_are_acknowledged_and_ignored(deliver):
    data = {"webhookEvent": "worklog_created", "timestamp": 1741946700512}
    response = deliver(data)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert WebhookReceipt.objects.count() == 0


def test_when_it_cannot_store_it_answers_503_so_jira_retries(deliver, monkeypatch):
    def broken(**kwargs):
        raise OperationalError("database is down")

    monkeypatch.setattr("integrations.jira.api.store_receipt", broken)
    response = deliver(fixture("jira-webhook-issue-created.json"))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def test_a_clash_with_a_row_that_is_not_this_delivery_is_a_503_then_stored_on_the_retry(deliver):
    # After a restore the id sequence may lag behind rows inserted with explicit ids: the next
    # insert clashes on the primary key, and nothing matches the delivery. It must not be
    # answered "duplicate" (Jira would never send it again): 503, and the retry stores it.
    data = fixture("jira-webhook-issue-created.json")
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('jira_webhookreceipt', 'id'))")
        taken = cursor.fetchone()[0] + 1
    WebhookReceipt.objects.create(
        pk=taken, identifier="restored", content_key="restored", event="jira:issue_updated", payload={}
    )
    first = deliver(data, identifier="delivery-after-restore")
    assert first.status_code == 503 and first["Retry-After"] == "30"
    assert not WebhookReceipt.objects.filter(identifier="delivery-after-restore").exists()
    retried = deliver(data, identifier="delivery-after-restore")
    assert retried.status_code == 202
    assert WebhookReceipt.objects.filter(identifier="delivery-after-restore").count() == 1


def test_only_post_is_allowed(client):
    assert client.get(URL).status_code == 405


def test_a_delivery_costs_a_fixed_handful_of_queries(deliver, django_assert_max_num_queries):
    data = fixture("jira-webhook-issue-updated.json")
    # Warm up with another delivery: the same signed content again would be a duplicate.
    deliver({**data, "timestamp": data["timestamp"] - 1})
    # The throttle counter, insert-if-new, defer, and the transaction around them.
    with django_assert_max_num_queries(5):
        assert deliver(data).status_code == 202


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_applies_stored_deliveries(deliver, mappings, run_worker):
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-comment-created.json"))
    assert Ticket.objects.count() == 0
    run_worker(queues=["jira"])
    ticket = Ticket.objects.get(external_key="ITSUP-42")
    assert ticket.comments.count() == 1
    assert set(WebhookReceipt.objects.values_list("state", flat=True)) == {"processed"}


# --- the signed content decides what is a duplicate; poison deliveries are acknowledged -------
def test_the_same_signed_body_under_a_new_identifier_is_a_duplicate(deliver, queued_jobs):
    data = fixture("jira-webhook-issue-updated.json")
    assert deliver(data, identifier="first-id").status_code == 202
    replay = deliver(data, identifier="another-id")
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert WebhookReceipt.objects.count() == 1
    assert queued_jobs() == 1


def test_a_later_update_of_the_same_issue_is_a_new_delivery(deliver):
    data = fixture("jira-webhook-issue-updated.json")
    assert deliver(data).status_code == 202
    later = json.loads(json.dumps(data))
    later["timestamp"] = data["timestamp"] + 60_000
    later["issue"]["fields"]["updated"] = "2031-01-01T10:00:00.000+0000"
    assert deliver(later).status_code == 202
    comment = fixture("jira-webhook-comment-created.json")
    assert deliver(comment).status_code == 202
    assert WebhookReceipt.objects.count() == 3
    assert len(set(WebhookReceipt.objects.values_list("content_key", flat=True))) == 3


@pytest.mark.parametrize("retry", ["99999999999999999999999", "-5", "many"])
def test_an_absurd_retry_header_is_stored_not_answered_503_forever(deliver, retry):
    response = deliver(
        fixture("jira-webhook-issue-created.json"), headers={"X-Atlassian-Webhook-Retry": retry}
    )
    assert response.status_code == 202
    assert 0 <= WebhookReceipt.objects.get().retry_count <= 1000


@pytest.mark.parametrize(
    "body",
    [
        b'{"webhookEvent": "jira:issue_updated", "issue": {"id": "1\\u0000", "key": "ITSUP-1"}}',
        b'{"webhookEvent": "jira:issue_updated", "issue": {"id": NaN, "key": "ITSUP-1"}}',
    ],
    ids=["nul", "nan"],
)
def test_a_poison_body_is_refused_with_a_4xx_so_jira_stops_retrying(deliver, body):
    response = deliver(body)
    assert 400 <= response.status_code < 500
    assert WebhookReceipt.objects.count() == 0


# --- what mutation testing of receive.py showed untested (docs/mutation-testing.md) ------------
def updated(**changes) -> dict:
    """The issue-updated contract delivery with top-level and ``issue`` entries replaced."""
    data = json.loads(json.dumps(fixture("jira-webhook-issue-updated.json")))
    data["issue"].update(changes.pop("issue", {}))
    data.update(changes)
    return data


@pytest.mark.parametrize("header", ["sha256=", "sha256=   "], ids=["blank", "spaces"])
def test_a_signature_header_with_a_blank_signature_is_refused_as_malformed(deliver, header):
    response = deliver(updated(), signed=False, headers={"X-Hub-Signature": header})
    assert response.status_code == 401
    assert response.json()["detail"] == "X-Hub-Signature must look like sha256=<hex digest>."
    assert WebhookReceipt.objects.count() == 0


def test_a_signature_header_without_a_separator_is_refused_as_malformed(deliver):
    response = deliver(updated(), signed=False, headers={"X-Hub-Signature": "sha256"})
    assert response.status_code == 401
    assert response.json()["detail"] == "X-Hub-Signature must look like sha256=<hex digest>."


@pytest.mark.parametrize("event", [5, True, ""], ids=["number", "boolean", "blank"])
def test_a_webhook_event_that_is_not_a_name_is_refused(deliver, event):
    response = deliver(updated(webhookEvent=event))
    assert response.status_code == 400
    assert response.json()["detail"] == "The body has no webhookEvent."
    assert WebhookReceipt.objects.count() == 0


def test_identifiers_longer_than_their_columns_are_stored_truncated(deliver):
    data = updated(issue={"id": "7" * 40, "key": "ITSUP-" + "9" * 70})
    response = deliver(data, identifier="i" * 300, headers={"X-Atlassian-Webhook-Flow": "f" * 30})
    assert response.status_code == 202
    receipt = WebhookReceipt.objects.get()
    assert receipt.identifier == "i" * 255
    assert receipt.issue_id == "7" * 32
    assert receipt.issue_key == ("ITSUP-" + "9" * 70)[:64]
    assert receipt.flow == "f" * 20


def test_the_issue_id_and_key_are_stored(deliver):
    assert deliver(updated()).status_code == 202
    receipt = WebhookReceipt.objects.get()
    assert (receipt.issue_id, receipt.issue_key, receipt.retry_count, receipt.for_tickets) == (
        "10042",
        "ITSUP-42",
        0,
        True,
    )


def test_issue_fields_that_are_not_an_object_are_stored_as_no_fields(deliver):
    data = updated(issue={"fields": "not an object"})
    assert deliver(data).status_code == 202
    assert WebhookReceipt.objects.get().issue_key == "ITSUP-42"


def test_two_issues_updated_in_the_same_millisecond_are_two_deliveries(deliver):
    assert deliver(updated()).status_code == 202
    other = updated(issue={"id": "10043", "key": "ITSUP-43"})
    assert deliver(other).status_code == 202
    assert WebhookReceipt.objects.count() == 2


def test_two_updates_of_one_issue_in_the_same_millisecond_are_two_deliveries(deliver):
    assert deliver(updated()).status_code == 202
    later = updated()
    later["issue"]["fields"]["updated"] = "2031-01-01T10:00:00.000+0000"
    assert deliver(later).status_code == 202
    assert WebhookReceipt.objects.count() == 2


def test_the_same_facts_in_other_bytes_are_a_duplicate(deliver, queued_jobs):
    """The content key is what the body says happened, not its bytes: a redelivery that differs
    only in details the key does not read (here the changelog) under a new identifier is the same
    delivery, and the answer names the stored receipt."""
    first = deliver(updated())
    assert first.status_code == 202
    other_bytes = updated(changelog={"id": "0", "items": []})
    replay = deliver(other_bytes)
    assert replay.status_code == 200
    assert replay.json() == {"status": "duplicate", "receipt": first.json()["receipt"]}
    assert queued_jobs() == 1


def test_the_content_key_names_the_event_and_the_facts():
    data = updated()
    facts = ["10042", "ITSUP-42", data["issue"]["fields"]["updated"], "", "", str(data["timestamp"])]
    expected = "sha256:" + hashlib.sha256("\x1f".join(["jira:issue_updated", *facts]).encode()).hexdigest()
    assert content_key("jira:issue_updated", data, b"any bytes") == expected


def test_without_any_fact_the_content_key_is_the_digest_of_the_body():
    body = b'{"webhookEvent": "x"}'
    key = content_key("x", {"webhookEvent": "x", "issue": "not an object"}, body)
    assert key == "sha256:" + hashlib.sha256(body).hexdigest()
    assert content_key("x", {}, body) == key
    assert content_key("x", {}, body + b" ") != key


def test_a_duplicate_answers_the_stored_receipt(deliver, queued_jobs):
    first = deliver(updated(), identifier="same-id")
    receipt = first.json()["receipt"]
    assert receipt == WebhookReceipt.objects.get().pk
    same_identifier_other_content = deliver(updated(timestamp=1), identifier="same-id")
    same_content_other_identifier = deliver(updated(), identifier="another-id")
    for answer in (same_identifier_other_content, same_content_other_identifier):
        assert answer.status_code == 200
        assert answer.json() == {"status": "duplicate", "receipt": receipt}
    assert WebhookReceipt.objects.count() == 1
    assert queued_jobs() == 1


def test_the_queued_job_names_the_stored_receipt(deliver):
    receipt = deliver(updated()).json()["receipt"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT args, queueing_lock, queue_name FROM procrastinate_jobs "
            "WHERE task_name = 'integrations.jira.tasks.process_receipt' ORDER BY id DESC LIMIT 1"
        )
        args, lock, queue = cursor.fetchone()
    assert json.loads(args) == {"receipt_id": receipt}
    assert lock == f"jira-receipt-{receipt}"
    assert queue == "jira"


def test_a_misnamed_task_fails_the_delivery_rather_than_queue_a_job_no_worker_runs(deliver, monkeypatch):
    monkeypatch.setattr(receive, "PROCESS_RECEIPT_TASK", "integrations.jira.tasks.no_such_task")
    with pytest.raises(TaskNotFound):
        deliver(updated())
    assert WebhookReceipt.objects.count() == 0


def test_store_receipt_defaults_and_column_limits():
    """The defaults of ``store_receipt`` (a first delivery, for tickets) and the event column."""
    receipt_id, created = store_receipt(
        identifier="direct", event="e" * 100, issue={"id": "1", "key": "ITSUP-1"}, payload={}
    )
    assert created
    receipt = WebhookReceipt.objects.get(pk=receipt_id)
    assert (receipt.event, receipt.retry_count, receipt.for_tickets, receipt.flow, receipt.content_key) == (
        "e" * 60,
        0,
        True,
        "",
        "",
    )


# --- which deliveries go to tickets, to a listener, or nowhere --------------------------------
def test_a_configured_project_is_accepted_without_a_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert accept_project("itsup") is True


def test_a_project_accepted_in_the_admin_goes_to_tickets(deliver, settings):
    settings.JIRA_PROJECT_KEY = ["OTHER"]
    ProjectKey.objects.create(key="ITSUP")
    assert deliver(updated()).status_code == 202
    assert WebhookReceipt.objects.get().for_tickets is True


def test_the_first_project_pinned_goes_to_tickets(deliver, settings):
    settings.JIRA_PROJECT_KEY = []
    assert deliver(updated()).status_code == 202
    assert WebhookReceipt.objects.get().for_tickets is True


def test_a_claimed_project_is_stored_for_its_listeners_only(deliver):
    def claim(sender, project_key, **kwargs):
        return project_key == "HR"

    project_claimed.connect(claim)
    try:
        data = updated(issue={"key": "HR-7"})
        data["issue"]["fields"]["project"] = {"key": "HR", "id": "1"}
        assert deliver(data).status_code == 202
        assert ProjectKey.objects.count() == 0
        assert WebhookReceipt.objects.get().for_tickets is False
    finally:
        project_claimed.disconnect(claim)
