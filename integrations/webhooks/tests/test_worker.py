"""End to end with a real procrastinate worker: commit, deliver, retry through an outage."""

import pytest

from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from integrations.webhooks.tests.fakes import N8N_ACCEPTED, N8N_INACTIVE, Reply


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_outage_then_recovery_loses_nothing(clean_queue, settings, service, make_ticket, run_worker):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 0  # retry at once, so one worker run sees the recovery
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    n8n = service(Reply(503, "Service Unavailable"), N8N_INACTIVE, N8N_ACCEPTED)
    WebhookSubscription.objects.create(name="n8n", url=n8n.url, events=["ticket.critical"])

    ticket = make_ticket("Storage array offline", impact="high", urgency="high")
    run_worker(queues=["webhooks"])

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempts == 3
    assert [a.response_code for a in delivery.attempt_log.order_by("number")] == [503, 404, 200]
    assert {r.json()["ticket"]["number"] for r in n8n.requests} == {ticket.number}
    assert len({r.json()["delivery_id"] for r in n8n.requests}) == 1
