"""Teams and Slack channels (incoming webhooks) and the messages sent to them."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integrations import outbox
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
    PENDING = outbox.PENDING, _("Pending")
    SENDING = outbox.SENDING, _("Sending")
    RETRYING = outbox.RETRYING, _("Retrying")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    CANCELLED = outbox.CANCELLED, _("Cancelled")


class ChatMessage(outbox.OutboxMessage):
    """One notification to one channel; ``body`` is the JSON exactly as posted."""

    SUCCEEDED = MessageStatus.SENT
    GAVE_UP = MessageStatus.FAILED

    channel = models.ForeignKey(ChatChannel, on_delete=models.CASCADE, related_name="messages")
    status = outbox.status_field(MessageStatus)
    body = models.JSONField(default=dict)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta(outbox.OutboxMessage.Meta):
        verbose_name = _("chat message")
        indexes = outbox.indexes("chat_message", "channel", "channel")
        constraints = [outbox.dedupe_constraint("chat_message", "channel")]

    def __str__(self) -> str:
        return f"{self.event} → {self.channel_id} ({self.status})"

    def can_be_retried(self) -> bool:
        return self.status in (MessageStatus.FAILED, MessageStatus.CANCELLED)
