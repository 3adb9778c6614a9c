"""Webhook workflows: queue deliveries for an event, attempt one, redeliver, requeue the lost.

Delivery is at least once. A delivery row and its job are written in the transaction of the
change (the job only becomes visible to workers at commit; a rollback leaves neither). An
attempt first claims the row with a compare-and-set on its status, so two workers (or a
retried job) never send the same delivery twice at once, and a delivery that succeeded is
never sent again.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING

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
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from itsm.models import AutomationEvent, User

if TYPE_CHECKING:
    from datetime import datetime

logger = logging.getLogger(__name__)


class DeliveryNotFinished(Exception):
    """Redelivery asked for a delivery that is still being delivered."""


# --- queueing -----------------------------------------------------------------------------
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
            created += outbox.insert_once(WebhookDelivery, rows, deduplicate=bool(event.dedupe_key))
        for delivery in created:
            # A new delivery has no job yet: no queueing-lock conflict is possible here.
            _deliver_job().configure(queueing_lock=f"webhook-delivery-{delivery.pk}").defer(
                delivery_id=delivery.pk
            )
    return created


def _deliver_job():  # type: ignore[no-untyped-def]
    from integrations.webhooks.tasks import deliver_webhook

    return deliver_webhook


def schedule_attempt(delivery_id: int, at: datetime | None = None) -> bool:
    """Defer the delivery job (at most one waiting job per delivery, by queueing lock)."""
    return outbox.schedule(_deliver_job(), f"webhook-delivery-{delivery_id}", at, delivery_id=delivery_id)


# --- one attempt ----------------------------------------------------------------------------
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
    now = timezone.now()
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    # Claim: only a waiting, due delivery moves to "sending"; a second job (or a retried one)
    # finds nothing to claim, so a succeeded delivery is never sent again.
    if not outbox.claim(WebhookDelivery, delivery_id, now=now, timeout=timeout):
        return None
    delivery = WebhookDelivery.objects.select_related("subscription", "redelivery_of").get(pk=delivery_id)
    subscription = delivery.subscription
    if not subscription.active:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.CANCELLED,
            claimed_until=None,
            next_attempt_at=None,
            error="The subscription was deactivated before this delivery was sent.",
        )
        return delivery

    attempt = delivery.attempts + 1
    run_id = uuid.uuid4()
    body = render_body(delivery, run_id=run_id, attempt=attempt)
    headers = request_headers(delivery, body, run_id=run_id, attempt=attempt, timestamp=int(now.timestamp()))
    result = transport.post(subscription.url, body, headers, timeout=timeout)
    finished = timezone.now()

    if result.is_2xx:
        outcome = AttemptOutcome.SUCCEEDED
    elif attempt >= delivery.max_attempts:
        outcome = AttemptOutcome.DEAD
    else:
        outcome = AttemptOutcome.RETRY  # any non-2xx is retryable (n8n answers 404 while inactive)
    error = result.error or ("" if result.is_2xx else f"HTTP {result.status_code}")
    logged_headers = {
        name: ("***" if name == subscription.auth_header_name else value) for name, value in headers.items()
    }
    fields = {
        "attempts": attempt,
        "run_id": run_id,
        "last_attempt_at": now,
        "claimed_until": None,
        "response_code": result.status_code,
        "response_excerpt": result.body,
        "error": error,
    }
    next_attempt_at = None
    if outcome == AttemptOutcome.SUCCEEDED:
        fields.update(status=DeliveryStatus.SUCCEEDED, succeeded_at=finished, next_attempt_at=None)
    elif outcome == AttemptOutcome.DEAD:
        fields.update(status=DeliveryStatus.DEAD, next_attempt_at=None)
    else:
        delay = transport.backoff_delay(
            attempt,
            base=settings.WEBHOOK_BACKOFF_BASE_SECONDS,
            maximum=settings.WEBHOOK_BACKOFF_MAX_SECONDS,
            retry_after=result.retry_after_seconds(finished),
        )
        next_attempt_at = finished + delay
        fields.update(status=DeliveryStatus.RETRYING, next_attempt_at=next_attempt_at)

    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=attempt,
            run_id=run_id,
            started_at=now,
            duration_ms=result.duration_ms,
            request_headers=logged_headers,
            response_code=result.status_code,
            response_excerpt=result.body,
            error=result.error,
            outcome=outcome,
        )
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(**fields)
        if next_attempt_at is not None:
            schedule_attempt(delivery.pk, at=next_attempt_at)
        elif outcome == AttemptOutcome.DEAD:
            _tell_admins(delivery, error)
    log = logger.info if outcome == AttemptOutcome.SUCCEEDED else logger.warning
    log(
        "webhook %s %s attempt %s to %s: %s %s (trace %s)",
        delivery.event,
        delivery.delivery_id,
        attempt,
        subscription.url,
        outcome,
        error or result.status_code,
        delivery.trace_id,
    )
    for name, value in fields.items():
        setattr(delivery, name, value)
    return delivery


def _tell_admins(delivery: WebhookDelivery, error: str) -> None:
    """A dead letter shows up in the admins' bell (once a day per subscription)."""
    from itsm.notify import notify

    subscription = delivery.subscription
    notify(
        User.objects.active().filter(role="admin"),
        verb="webhook.dead",
        title=f"Webhook {subscription.name}: {delivery.event} dead-lettered after {delivery.max_attempts} attempts ({error})"[
            :300
        ],
        url=f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/",
        subject_type="webhook_delivery",
        subject_id=delivery.pk,
        dedupe_key=f"webhook-dead:{subscription.pk}:{timezone.now():%Y-%m-%d}",
    )


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
    schedule_attempt(copy.pk)
    return copy


def do_requeue_stalled(now: datetime | None = None) -> int:
    """Give lost work back to the queue: expired claims and overdue waiting deliveries."""
    return outbox.requeue_stalled(WebhookDelivery, schedule_attempt, now or timezone.now())


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
    schedule_attempt(delivery.pk)
    return delivery
