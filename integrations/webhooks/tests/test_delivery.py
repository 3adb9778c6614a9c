"""Sending deliveries to a local receiver that behaves like n8n (incl. its errors)."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.webhooks import actions, transport
from integrations.webhooks.models import AttemptOutcome, DeliveryStatus, WebhookDelivery, WebhookSubscription
from integrations.webhooks.tests.fakes import (
    N8N_ACCEPTED,
    N8N_INACTIVE,
    Reply,
    closed_port_url,
    worker_took_jobs,
)
from itsm.models import Notification

SECRET = "whsec_n8n-shared-secret-123456"


@pytest.fixture
def critical_delivery(db, make_ticket, fast_webhooks):
    def make(url: str, **extra) -> WebhookDelivery:
        subscription = WebhookSubscription.objects.create(
            name="n8n",
            url=url,
            secret=SECRET,
            events=["ticket.critical"],
            auth_header_name="X-N8N-Auth",
            auth_header_value="header-auth-value",
            **extra,
        )
        make_ticket("Core switch down", impact="high", urgency="high")
        worker_took_jobs()
        return WebhookDelivery.objects.get(subscription=subscription, event="ticket.critical")

    return make


def test_it_delivers_a_signed_json_body_with_trace_and_run_ids(critical_delivery, service):
    n8n = service(N8N_ACCEPTED)
    delivery = critical_delivery(n8n.url)
    actions.do_attempt_delivery(delivery.pk)

    (request,) = n8n.requests
    body = request.json()
    assert body["event"] == "ticket.critical"
    assert body["delivery_id"] == str(delivery.delivery_id)
    assert body["trace_id"] == str(delivery.trace_id)
    assert body["ticket"]["priority"] == "critical"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-itsm-event"] == "ticket.critical"
    assert request.headers["x-itsm-delivery"] == str(delivery.delivery_id)
    assert request.headers["x-n8n-auth"] == "header-auth-value"
    assert transport.verify_signature(SECRET, request.headers["x-itsm-signature"], request.body)
    assert not transport.verify_signature(
        "whsec_wrong-secret-000000", request.headers["x-itsm-signature"], request.body
    )

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 1
    assert delivery.response_code == 200
    assert "Workflow was started" in delivery.response_excerpt
    assert str(delivery.run_id) == body["run_id"] == request.headers["x-itsm-run-id"]
    (attempt,) = delivery.attempt_log.all()
    assert attempt.outcome == AttemptOutcome.SUCCEEDED
    assert attempt.request_headers["X-N8N-Auth"] == "***"  # the shared secret is not logged


def test_a_retried_job_never_sends_a_delivery_that_succeeded(critical_delivery, service):
    n8n = service(N8N_ACCEPTED)
    delivery = critical_delivery(n8n.url)
    actions.do_attempt_delivery(delivery.pk)
    assert actions.do_attempt_delivery(delivery.pk) is None
    assert len(n8n.requests) == 1
    assert delivery.attempt_log.count() == 1


def test_an_inactive_n8n_workflow_404_is_retried_with_backoff(critical_delivery, service):
    n8n = service(N8N_INACTIVE, N8N_ACCEPTED)
    delivery = critical_delivery(n8n.url)
    before = timezone.now()
    actions.do_attempt_delivery(delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.response_code == 404
    assert (
        before + timedelta(seconds=30) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=31)
    )
    job = (
        ProcrastinateJob.objects.filter(args={"delivery_id": delivery.pk}, status="todo")
        .order_by("-id")
        .first()
    )
    assert job.scheduled_at == delivery.next_attempt_at
    # Not due yet: a job running early sends nothing.
    assert actions.do_attempt_delivery(delivery.pk) is None
    assert len(n8n.requests) == 1

    worker_took_jobs()
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1)):
        actions.do_attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert [a.outcome for a in delivery.attempt_log.order_by("number")] == ["retry", "succeeded"]
    first, second = (r.json() for r in n8n.requests)
    assert first["delivery_id"] == second["delivery_id"]
    assert first["run_id"] != second["run_id"]
    assert (first["attempt"], second["attempt"]) == (1, 2)


def test_a_slow_receiver_times_out_and_is_retried(critical_delivery, service):
    slow = service(Reply(hang=True))
    delivery = critical_delivery(slow.url)
    actions.do_attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.response_code is None
    assert "timeout" in delivery.error
    assert delivery.attempt_log.get().outcome == AttemptOutcome.RETRY


def test_a_receiver_that_is_down_is_retried(critical_delivery):
    delivery = critical_delivery(closed_port_url())
    actions.do_attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert "ConnectionError" in delivery.error


def test_it_honours_retry_after_on_429(critical_delivery, service):
    busy = service(Reply(429, "slow down", {"Retry-After": "600"}))
    delivery = critical_delivery(busy.url)
    started = timezone.now()
    actions.do_attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at >= started + timedelta(seconds=600)


def test_it_dead_letters_after_the_last_attempt_and_tells_the_admins(critical_delivery, service, admin_user):
    broken = service(Reply(500, "Internal Server Error"))
    delivery = critical_delivery(broken.url)
    for _ in range(3):  # WEBHOOK_MAX_ATTEMPTS = 3
        worker_took_jobs()
        with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1)):
            actions.do_attempt_delivery(delivery.pk)
        delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == 3
    assert delivery.next_attempt_at is None
    assert [a.outcome for a in delivery.attempt_log.order_by("number")] == ["retry", "retry", "dead"]
    assert len(broken.requests) == 3
    assert not ProcrastinateJob.objects.filter(
        args={"delivery_id": delivery.pk}, status="todo", scheduled_at__gt=timezone.now()
    ).exists()
    (notification,) = Notification.objects.filter(recipient=admin_user, verb="webhook.dead")
    assert "dead-lettered" in notification.title
    # Dead is final: nothing sends it again except a redelivery.
    assert actions.do_attempt_delivery(delivery.pk) is None


def test_a_deactivated_subscription_cancels_its_waiting_deliveries(critical_delivery, service):
    n8n = service(N8N_ACCEPTED)
    delivery = critical_delivery(n8n.url)
    WebhookSubscription.objects.update(active=False)
    actions.do_attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.CANCELLED
    assert n8n.requests == []


def test_redelivery_sends_a_finished_delivery_again_as_a_new_one(critical_delivery, service, admin_user):
    n8n = service(N8N_ACCEPTED)
    delivery = critical_delivery(n8n.url)
    actions.do_attempt_delivery(delivery.pk)
    copy = actions.do_redeliver(delivery, actor=admin_user)
    actions.do_attempt_delivery(copy.pk)
    first, second = (r.json() for r in n8n.requests)
    assert second["redelivery_of"] == first["delivery_id"]
    assert second["delivery_id"] != first["delivery_id"]
    assert second["ticket"] == first["ticket"]
    assert second["trace_id"] == first["trace_id"]


def test_the_sweeper_requeues_lost_work_without_duplicating_jobs(critical_delivery, service):
    n8n = service(N8N_ACCEPTED)
    delivery = critical_delivery(n8n.url)
    now = timezone.now()
    # A worker died while sending: the claim expired.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="sending", claimed_until=now - timedelta(seconds=1)
    )
    # ... and its job is gone (worker_took_jobs above).
    assert actions.do_requeue_stalled(now + timedelta(minutes=2)) == 1
    assert actions.do_requeue_stalled(now + timedelta(minutes=2)) == 0  # a job already waits
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert ProcrastinateJob.objects.filter(args={"delivery_id": delivery.pk}).count() == 1
    with time_machine.travel(now + timedelta(minutes=2)):
        actions.do_attempt_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert json.loads(n8n.requests[0].body)["delivery_id"] == str(delivery.delivery_id)
