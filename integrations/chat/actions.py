"""Chat workflows: queue a message per subscribed channel, send one, retry by hand, test a channel.

Messages go through the shared outbox (``integrations.outbox``), as webhook deliveries do;
what is particular to chat is here: the card or blocks of each service, how each service's
answer is read (a permanent error fails at once), and the channel's last success or error.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from integrations import outbox
from integrations.chat import slack, teams
from integrations.chat.models import ChannelKind, ChatChannel, ChatMessage, MessageStatus
from integrations.chat.notice import Notice, notice_for
from integrations.webhooks import transport
from integrations.webhooks.events import OutboundEvent
from itsm.models import AutomationEvent, User

if TYPE_CHECKING:
    from datetime import datetime


def render(kind: str, notice: Notice) -> dict[str, Any]:
    if kind == ChannelKind.SLACK:
        return slack.render(notice)
    return teams.render(notice)


def classify(kind: str, result: transport.HttpResult) -> outbox.Verdict:
    if kind == ChannelKind.SLACK:
        return slack.classify(result)
    if kind == ChannelKind.TEAMS_LEGACY:
        return teams.classify_legacy(result)
    return teams.classify_workflows(result)


# --- the outbox of chat messages -----------------------------------------------------------------
class ChatOutbox(outbox.Outbox[ChatMessage, outbox.Sent]):
    """The JSON each service expects; what an answer means depends on the service (``classify``):
    429, 5xx and network errors are retried, another 4xx fails at once."""

    model = ChatMessage
    lock_prefix = "chat-message"
    argument = "message_id"
    succeeded_at = "sent_at"

    task = "integrations.chat.tasks.send_chat_message"

    def policy(self) -> outbox.Policy:
        return outbox.Policy(
            timeout=settings.CHAT_TIMEOUT_SECONDS,
            backoff_base=settings.CHAT_BACKOFF_BASE_SECONDS,
            backoff_max=settings.CHAT_BACKOFF_MAX_SECONDS,
        )

    def load(self, pk: int) -> ChatMessage:
        return ChatMessage.objects.select_related("channel").get(pk=pk)

    def cancel_reason(self, message: ChatMessage) -> str:
        if message.channel.active:
            return ""
        return "The channel was deactivated before this message was sent."

    def send(self, message: ChatMessage, *, attempt: int, now: datetime, timeout: float) -> outbox.Sent:
        channel = message.channel
        body = json.dumps(message.body, cls=DjangoJSONEncoder, ensure_ascii=False).encode()
        result = transport.post(
            channel.webhook_url, body, {"X-ITSM-Trace-Id": str(message.trace_id)}, timeout=timeout
        )
        return outbox.Sent(result, classify(channel.kind, result))

    def recorded(
        self,
        message: ChatMessage,
        sent: outbox.Sent,
        *,
        attempt: int,
        outcome: str,
        started: datetime,
        finished: datetime,
    ) -> None:
        """The channel shows its last success or error to the admin."""
        if outcome == outbox.SENT:
            ChatChannel.objects.filter(pk=message.channel_id).update(last_success_at=finished)
        else:
            ChatChannel.objects.filter(pk=message.channel_id).update(
                last_error=sent.verdict.reason[:1000], last_error_at=finished
            )

    def gave_up(self, message: ChatMessage, reason: str) -> None:
        """A channel that fails for good shows up in the admins' bell (once a day per channel)."""
        channel = message.channel
        self.tell_admins(
            verb="chat.failed",
            title=f"Chat channel {channel.name} failed: {reason}",
            url=f"/admin/chat/chatchannel/{channel.pk}/change/",
            subject=("chat_channel", channel.pk),
            once_a_day=f"chat-failed:{channel.pk}",
        )

    def describe(self, message: ChatMessage) -> str:
        return f"chat {message.channel.kind} message {message.pk} ({message.event})"


CHATS = ChatOutbox()


def do_queue_chat_messages(events: list[OutboundEvent]) -> list[ChatMessage]:
    """One message per active channel and event (one query to find the channels of a change)."""
    channels = list(ChatChannel.objects.active().subscribed_to_any([e.name for e in events]))
    if not channels:
        return []
    created: list[ChatMessage] = []
    with transaction.atomic():
        for event in events:
            listening = [channel for channel in channels if event.name in channel.events]
            if not listening:
                continue
            # A channel is shared: it reads the desk's language, not the one of whoever acted.
            with translation.override(settings.LANGUAGE_CODE):
                notice = notice_for(event.name, event.data)
                bodies = {channel.kind: render(channel.kind, notice) for channel in listening}
            rows = [
                ChatMessage(
                    channel=channel,
                    event=event.name,
                    body=bodies[channel.kind],
                    trace_id=event.trace_id,
                    dedupe_key=event.dedupe_key,
                    max_attempts=settings.CHAT_MAX_ATTEMPTS,
                    next_attempt_at=event.occurred_at,
                )
                for channel in listening
            ]
            created += CHATS.add(rows, deduplicate=bool(event.dedupe_key))
    return created


def do_attempt_chat_message(message_id: int) -> ChatMessage | None:
    """Send one waiting message once; returns None when there was nothing to send."""
    return CHATS.attempt(message_id)


# --- by hand --------------------------------------------------------------------------------
def check_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("Only admins manage chat channels.")


@transaction.atomic
def do_send_test_message(channel: ChatChannel, *, actor: User | None) -> ChatMessage:
    check_admin(actor)
    if not channel.active:
        raise ValidationError({"channel": "The channel is inactive; activate it first."})
    with translation.override(settings.LANGUAGE_CODE):
        return _queue_test_message(channel)


def _queue_test_message(channel: ChatChannel) -> ChatMessage:
    notice = Notice(
        _("Test message from the service desk"),
        _("If you can read this, %(name)s is configured correctly.") % {"name": channel.name},
        [(_("Channel"), str(channel.get_kind_display()))],
        settings.SITE_URL,
        _("Open the service desk"),
        "good",
    )
    message = ChatMessage.objects.create(
        channel=channel,
        event="test",
        body=render(channel.kind, notice),
        trace_id=uuid.uuid4(),
        max_attempts=settings.CHAT_MAX_ATTEMPTS,
    )
    CHATS.schedule(message.pk)
    return message


@transaction.atomic
def do_retry_chat_message(message: ChatMessage, *, actor: User | None) -> ChatMessage:
    """A failed message is sent again (after the admin fixed the channel)."""
    check_admin(actor)
    message = ChatMessage.objects.select_for_update().select_related("channel").get(pk=message.pk)
    if not message.can_be_retried():
        raise ValidationError(
            {"status": f"Only failed or cancelled messages are retried; this one is {message.status}."}
        )
    if not message.channel.active:
        raise ValidationError({"channel": "The channel is inactive; activate it first."})
    now = timezone.now()
    ChatMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.PENDING,
        next_attempt_at=now,
        max_attempts=message.attempts + settings.CHAT_MAX_ATTEMPTS,
    )
    AutomationEvent.objects.record(
        actor=actor or "system:chat",
        action="chat.retry",
        subject=message,
        before={"status": message.status},
        after={"status": MessageStatus.PENDING},
        trace_id=message.trace_id,
    )
    CHATS.schedule(message.pk)
    message.refresh_from_db()
    return message


def do_requeue_stalled_chat(now: datetime | None = None) -> int:
    return CHATS.requeue_stalled(now)
