"""Outbound webhooks: who subscribes to which events, each delivery, and each attempt."""

from __future__ import annotations

import re
import secrets
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integrations import outbox
from integrations.webhooks.events import Event


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def validate_outbound_url(value: str) -> None:
    parts = urlsplit(value or "")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationError(_("Enter an http:// or https:// address."))


def validate_events(value: list[str]) -> None:
    if not value:
        raise ValidationError(_("Choose at least one event."))
    unknown = sorted(set(value) - set(Event.values))
    if unknown:
        raise ValidationError(
            _("Unknown event(s): %(unknown)s. Known: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(Event.values)}
        )


RESERVED_HEADERS = {"content-type", "content-length", "user-agent", "host", "transfer-encoding"}


def validate_auth_header_name(value: str) -> None:
    if not value:
        return
    if not re.fullmatch(r"[A-Za-z0-9-]{1,100}", value):
        raise ValidationError(_("A header name has only letters, digits and dashes."))
    if value.lower() in RESERVED_HEADERS or value.lower().startswith("x-itsm-"):
        raise ValidationError(
            _("%(name)s is set by the platform itself; choose another header.") % {"name": value}
        )


class WebhookSubscriptionQuerySet(models.QuerySet):
    def active(self) -> WebhookSubscriptionQuerySet:
        return self.filter(active=True)

    def subscribed_to_any(self, events: list[str]) -> WebhookSubscriptionQuerySet:
        return self.filter(events__overlap=events)


class WebhookSubscription(models.Model):
    name = models.CharField(_("name"), max_length=120)
    url = models.URLField(_("URL"), max_length=500, validators=[validate_outbound_url])
    secret = models.CharField(
        _("signing secret"),
        max_length=200,
        default=new_secret,
        help_text=_("Deliveries are signed with HMAC-SHA256 over “timestamp.body” with this secret."),
    )
    events = ArrayField(
        models.CharField(max_length=40, choices=Event.choices), default=list, validators=[validate_events]
    )
    active = models.BooleanField(_("active"), default=True)
    # n8n's Webhook node "Header Auth" checks one static header; we send it when set.
    auth_header_name = models.CharField(
        _("auth header name"), max_length=100, blank=True, validators=[validate_auth_header_name]
    )
    auth_header_value = models.CharField(_("auth header value"), max_length=500, blank=True)
    description = models.TextField(_("description"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = WebhookSubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("webhook subscription")
        indexes = [models.Index(fields=["active"], name="webhook_sub_active_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if bool(self.auth_header_name) != bool(self.auth_header_value):
            raise ValidationError(_("Give both the auth header name and its value, or neither."))

    def rotate_secret(self) -> str:
        self.secret = new_secret()
        self.updated_at = timezone.now()
        self.save(update_fields=["secret", "updated_at"])
        return self.secret


class DeliveryStatus(models.TextChoices):
    PENDING = outbox.PENDING, _("Pending")
    SENDING = outbox.SENDING, _("Sending")
    RETRYING = outbox.RETRYING, _("Retrying")
    SUCCEEDED = "succeeded", _("Succeeded")
    DEAD = "dead", _("Dead letter")
    CANCELLED = outbox.CANCELLED, _("Cancelled")


class WebhookDelivery(outbox.OutboxMessage):
    """One event for one subscription; sent by the outbox loop (``integrations.outbox``)."""

    SUCCEEDED = DeliveryStatus.SUCCEEDED
    GAVE_UP = DeliveryStatus.DEAD

    delivery_id = models.UUIDField(_("delivery id"), default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(_("event"), max_length=40, choices=Event.choices)
    status = outbox.status_field(DeliveryStatus)
    payload = models.JSONField(_("payload"), default=dict)
    occurred_at = models.DateTimeField(default=timezone.now)
    # The id of the latest attempt (each attempt carries its own run_id).
    run_id = models.UUIDField(_("run id"), null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="redeliveries"
    )

    class Meta(outbox.OutboxMessage.Meta):
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = outbox.indexes("webhook_delivery", "subscription", "sub")
        constraints = [outbox.dedupe_constraint("webhook_delivery", "subscription")]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id} ({self.status})"

    def can_be_redelivered(self) -> bool:
        return self.is_final


class AttemptOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    RETRY = "retry", _("Failed, will retry")
    DEAD = "dead", _("Failed, gave up")


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    run_id = models.UUIDField(default=uuid.uuid4)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    request_headers = models.JSONField(default=dict, blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices)

    class Meta:
        ordering = ["delivery", "number"]
        verbose_name = _("webhook attempt")
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"
