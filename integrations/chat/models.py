"""Teams and Slack channels (incoming webhooks) and the messages sent to them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integrations.webhooks.events import DEFAULT_CHAT_EVENTS, Event
from integrations.webhooks.models import validate_events, validate_outbound_url


class ChannelKind(models.TextChoices):
    TEAMS_WORKFLOWS = "teams_workflows", _("Microsoft Teams (Workflows webhook)")
    TEAMS_LEGACY = "teams_legacy", _("Microsoft Teams (legacy connector)")
    SLACK = "slack", _("Slack (incoming webhook)")


def default_chat_events() -> list[str]:
    return [str(event) for event in DEFAULT_CHAT_EVENTS]


class ChatChannelQuerySet(models.QuerySet):
    def active(self) -> ChatChannelQuerySet:
        return self.filter(active=True)

    def subscribed_to(self, event: str) -> ChatChannelQuerySet:
        return self.filter(events__contains=[event])

    def subscribed_to_any(self, events: list[str]) -> ChatChannelQuerySet:
        return self.filter(events__overlap=events)


class ChatChannel(models.Model):
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=ChannelKind.choices)
    webhook_url = models.URLField(
        _("incoming webhook URL"),
        max_length=2000,
        validators=[validate_outbound_url],
        help_text=_(
            "Teams: the Workflows “When a Teams webhook request is received” URL (or a legacy "
            "connector URL). Slack: the https://hooks.slack.com/services/… URL."
        ),
    )
    events = ArrayField(
        models.CharField(max_length=40, choices=Event.choices),
        default=default_chat_events,
        validators=[validate_events],
    )
    active = models.BooleanField(_("active"), default=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ChatChannelQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("chat channel")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class MessageStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    RETRYING = "retrying", _("Retrying")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class ChatMessageQuerySet(models.QuerySet):
    def waiting(self) -> ChatMessageQuerySet:
        return self.filter(status__in=[MessageStatus.PENDING, MessageStatus.RETRYING])

    def overdue(self, now: datetime, grace: timedelta) -> ChatMessageQuerySet:
        return self.waiting().filter(next_attempt_at__lte=now - grace)

    def stuck_sending(self, now: datetime) -> ChatMessageQuerySet:
        return self.filter(status=MessageStatus.SENDING, claimed_until__lt=now)

    def failed(self) -> ChatMessageQuerySet:
        return self.filter(status=MessageStatus.FAILED)


class ChatMessage(models.Model):
    """One notification to one channel; ``body`` is the JSON exactly as posted."""

    channel = models.ForeignKey(ChatChannel, on_delete=models.CASCADE, related_name="messages")
    event = models.CharField(_("event"), max_length=40)
    body = models.JSONField(default=dict)
    trace_id = models.UUIDField(default=uuid.uuid4)
    status = models.CharField(
        _("status"), max_length=12, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=6)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ChatMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("chat message")
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="chat_message_created_idx"),
            models.Index(fields=["channel", "-created_at"], name="chat_message_channel_idx"),
            models.Index(fields=["status", "-created_at"], name="chat_message_status_idx"),
            models.Index(
                fields=["next_attempt_at"],
                name="chat_message_due_idx",
                condition=Q(status__in=["pending", "retrying", "sending"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="chat_message_dedupe_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.channel_id} ({self.status})"

    def can_be_retried(self) -> bool:
        return self.status in (MessageStatus.FAILED, MessageStatus.CANCELLED)
