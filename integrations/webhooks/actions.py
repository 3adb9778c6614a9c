"""Webhook workflows: queue deliveries for an event, attempt one, redeliver, requeue the lost.

Deliveries go through the shared outbox (``integrations.outbox``): written with their job in
the transaction of the change, claimed by compare-and-set before each attempt, retried with
exponential backoff, dead-lettered after the last attempt. What is particular to webhooks is
here: the signed envelope, the attempt log, and that every non-2xx answer is retried.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from integrations import outbox
from integrations.webhooks import transport
from integrations.webhooks.events import OutboundEvent, iso
from integrations.webhooks.models import (
    AttemptOutcome,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from itsm.models import AutomationEvent, User

if TYPE_CHECKING:
    from datetime import datetime


class DeliveryNotFinished(Exception):
    """Redelivery asked for a delivery that is still being delivered."""


# --- the outbox of webhook deliveries --------------------------------------------------------
@dataclass
class WebhookSent(outbox.Sent):
    run_id: uuid.UUID
    headers: dict[str, str]

    def fields(self) -> dict[str, Any]:
        return {"run_id": self.run_id}


ATTEMPT_OUTCOME = {outbox.SENT: AttemptOutcome.SUCCEEDED, outbox.RETRY: AttemptOutcome.RETRY}


class WebhookOutbox(outbox.Outbox[WebhookDelivery, WebhookSent]):
    """Signed JSON POSTs. Any answer but 2xx is retried: n8n answers 404 while its workflow is
    inactive, and a receiver's 4xx is usually a deployment that will be fixed."""

    model = WebhookDelivery
    lock_prefix = "webhook-delivery"
    argument = "delivery_id"
    succeeded_at = "succeeded_at"

    task = "integrations.webhooks.tasks.deliver_webhook"

    def policy(self) -> outbox.Policy:
        return outbox.Policy(
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            backoff_base=settings.WEBHOOK_BACKOFF_BASE_SECONDS,
            backoff_max=settings.WEBHOOK_BACKOFF_MAX_SECONDS,
        )

    def load(self, pk: int) -> WebhookDelivery:
        return WebhookDelivery.objects.select_related("subscription", "redelivery_of").get(pk=pk)

    def cancel_reason(self, delivery: WebhookDelivery) -> str:
        if delivery.subscription.active:
            return ""
        return "The subscription was deactivated before this delivery was sent."

    def send(self, delivery: WebhookDelivery, *, attempt: int, now: datetime, timeout: float) -> WebhookSent:
        run_id = uuid.uuid4()
        body = render_body(delivery, run_id=run_id, attempt=attempt)
        headers = request_headers(
            delivery, body, run_id=run_id, attempt=attempt, timestamp=int(now.timestamp())
        )
        result = transport.post(delivery.subscription.url, body, headers, timeout=timeout)
        if result.is_2xx:
            verdict = outbox.Verdict.sent()
        else:
            verdict = outbox.Verdict.retry(result.error or f"HTTP {result.status_code}")
        return WebhookSent(result, verdict, run_id=run_id, headers=headers)

    def recorded(
        self,
        delivery: WebhookDelivery,
        sent: WebhookSent,
        *,
        attempt: int,
        outcome: str,
        started: datetime,
        finished: datetime,
    ) -> None:
        secret_header = delivery.subscription.auth_header_name
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=attempt,
            run_id=sent.run_id,
            started_at=started,
            duration_ms=sent.result.duration_ms,
            # The receiver's shared auth header is not logged.
            request_headers={
                name: ("***" if name == secret_header else value) for name, value in sent.headers.items()
            },
            response_code=sent.result.status_code,
            response_excerpt=sent.result.body,
            error=sent.result.error,
            outcome=ATTEMPT_OUTCOME.get(outcome, AttemptOutcome.DEAD),
        )

    def gave_up(self, delivery: WebhookDelivery, reason: str) -> None:
        """A dead letter shows up in the admins' bell (once a day per subscription)."""
        subscription = delivery.subscription
        self.tell_admins(
            verb="webhook.dead",
            title=f"Webhook {subscription.name}: {delivery.event} dead-lettered ({reason})",
            url=f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/",
            subject=("webhook_delivery", delivery.pk),
            once_a_day=f"webhook-dead:{subscription.pk}",
        )

    def describe(self, delivery: WebhookDelivery) -> str:
        return f"webhook {delivery.event} {delivery.delivery_id} to {delivery.subscription.url}"


WEBHOOKS = WebhookOutbox()


def do_queue_deliveries(events: list[OutboundEvent]) -> list[WebhookDelivery]:
    """One delivery per active subscription and event; jobs deferred in this transaction.

    One query finds the subscribers of all the events of a change; the writes (only when
    someone subscribes) run in a savepoint, so a failure leaves the caller's transaction usable.
    """
    subscriptions = list(WebhookSubscription.objects.active().subscribed_to_any([e.name for e in events]))
    if not subscriptions:
        return []
    created: list[WebhookDelivery] = []
    with transaction.atomic():
        for event in events:
            rows = [
                WebhookDelivery(
                    subscription=subscription,
                    event=event.name,
                    payload=event.data,
                    occurred_at=event.occurred_at,
                    trace_id=event.trace_id,
                    dedupe_key=event.dedupe_key,
                    max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
                    next_attempt_at=event.occurred_at,
                )
                for subscription in subscriptions
                if event.name in subscription.events
            ]
            created += WEBHOOKS.add(rows, deduplicate=bool(event.dedupe_key))
    return created


def render_body(delivery: WebhookDelivery, *, run_id: uuid.UUID, attempt: int) -> bytes:
    envelope = {
        "event": delivery.event,
        "delivery_id": str(delivery.delivery_id),
        "occurred_at": iso(delivery.occurred_at),
        "trace_id": str(delivery.trace_id),
        "run_id": str(run_id),
        "attempt": attempt,
        "redelivery_of": str(delivery.redelivery_of.delivery_id) if delivery.redelivery_of_id else None,
        **delivery.payload,
    }
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False).encode()


def request_headers(
    delivery: WebhookDelivery, body: bytes, *, run_id: uuid.UUID, attempt: int, timestamp: int
) -> dict[str, str]:
    subscription = delivery.subscription
    headers = {
        "X-ITSM-Event": delivery.event,
        "X-ITSM-Delivery": str(delivery.delivery_id),
        "X-ITSM-Timestamp": str(timestamp),
        transport.SIGNATURE_HEADER: transport.signature_header(subscription.secret, timestamp, body),
        "X-ITSM-Trace-Id": str(delivery.trace_id),
        "X-ITSM-Run-Id": str(run_id),
        "X-ITSM-Attempt": str(attempt),
    }
    if subscription.auth_header_name:
        headers[subscription.auth_header_name] = subscription.auth_header_value
    return headers


def do_attempt_delivery(delivery_id: int) -> WebhookDelivery | None:
    """Send one waiting delivery once; returns None when there was nothing to send."""
    return WEBHOOKS.attempt(delivery_id)


# --- by hand and by the sweeper -------------------------------------------------------------
@transaction.atomic
def do_redeliver(delivery: WebhookDelivery, *, actor: User | None) -> WebhookDelivery:
    """A finished delivery (succeeded, dead or cancelled) is sent again as a new delivery."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("Only admins redeliver webhooks.")
    delivery = WebhookDelivery.objects.select_for_update().select_related("subscription").get(pk=delivery.pk)
    if not delivery.can_be_redelivered():
        raise DeliveryNotFinished(
            f"Delivery {delivery.delivery_id} is still {delivery.status}; it is retried automatically."
        )
    if not delivery.subscription.active:
        raise ValidationError({"subscription": "The subscription is inactive; activate it first."})
    now = timezone.now()
    copy = WebhookDelivery.objects.create(
        subscription=delivery.subscription,
        event=delivery.event,
        payload=delivery.payload,
        occurred_at=delivery.occurred_at,
        trace_id=delivery.trace_id,
        redelivery_of=delivery,
        max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
        next_attempt_at=now,
    )
    AutomationEvent.objects.record(
        actor=actor or "system:webhooks",
        action="webhook.redeliver",
        subject=delivery,
        before={"status": delivery.status},
        after={"redelivery": str(copy.delivery_id)},
        trace_id=delivery.trace_id,
    )
    WEBHOOKS.schedule(copy.pk)
    return copy


def do_requeue_stalled(now: datetime | None = None) -> int:
    """Give lost work back to the queue: expired claims and overdue waiting deliveries."""
    return WEBHOOKS.requeue_stalled(now)


@transaction.atomic
def do_ping_subscription(subscription: WebhookSubscription, *, actor: User | None) -> WebhookDelivery:
    """Send a ``ping`` event once (no retries) to check a receiver's URL, auth and signature check."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("Only admins ping webhook subscriptions.")
    if not subscription.active:
        raise ValidationError({"subscription": "The subscription is inactive; activate it first."})
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event="ping",
        max_attempts=1,
        next_attempt_at=now,
        occurred_at=now,
        payload={
            "message": "Ping from the service desk.",
            "subscription": {"id": subscription.pk, "name": subscription.name, "events": subscription.events},
        },
    )
    WEBHOOKS.schedule(delivery.pk)
    return delivery
