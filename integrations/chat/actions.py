"""Chat workflows: queue a message per subscribed channel, send one, retry by hand, test a channel.

Same delivery discipline as the webhooks: the message row and its job are written in the
transaction of the change; an attempt claims the row by compare-and-set, so a retried job
never posts a message that was already sent.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations import outbox
from integrations.chat import slack, teams
from integrations.chat.models import ChannelKind, ChatChannel, ChatMessage, MessageStatus
from integrations.chat.notice import Notice, notice_for
from integrations.chat.verdict import RETRY, SENT, Verdict
from integrations.webhooks import transport
from integrations.webhooks.events import OutboundEvent
from itsm.models import AutomationEvent, User

if TYPE_CHECKING:
    from datetime import datetime

logger = logging.getLogger(__name__)


def render(kind: str, notice: Notice) -> dict[str, Any]:
    if kind == ChannelKind.SLACK:
        return slack.render(notice)
    return teams.render(notice)


def classify(kind: str, result: transport.HttpResult) -> Verdict:
    if kind == ChannelKind.SLACK:
        return slack.classify(result)
    if kind == ChannelKind.TEAMS_LEGACY:
        return teams.classify_legacy(result)
    return teams.classify_workflows(result)


# --- queueing -----------------------------------------------------------------------------
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
            notice = notice_for(event.name, event.data)
            rows = [
                ChatMessage(
                    channel=channel,
                    event=event.name,
                    body=render(channel.kind, notice),
                    trace_id=event.trace_id,
                    dedupe_key=event.dedupe_key,
                    max_attempts=settings.CHAT_MAX_ATTEMPTS,
                    next_attempt_at=event.occurred_at,
                )
                for channel in listening
            ]
            created += outbox.insert_once(ChatMessage, rows, deduplicate=bool(event.dedupe_key))
        for message in created:
            # A new message has no job yet: no queueing-lock conflict is possible here.
            _send_job().configure(queueing_lock=f"chat-message-{message.pk}").defer(message_id=message.pk)
    return created


def _send_job():  # type: ignore[no-untyped-def]
    from integrations.chat.tasks import send_chat_message

    return send_chat_message


def schedule_attempt(message_id: int, at: datetime | None = None) -> bool:
    return outbox.schedule(_send_job(), f"chat-message-{message_id}", at, message_id=message_id)


# --- one attempt ----------------------------------------------------------------------------
def do_attempt_chat_message(message_id: int) -> ChatMessage | None:
    now = timezone.now()
    timeout = settings.CHAT_TIMEOUT_SECONDS
    if not outbox.claim(ChatMessage, message_id, now=now, timeout=timeout):
        return None
    message = ChatMessage.objects.select_related("channel").get(pk=message_id)
    channel = message.channel
    if not channel.active:
        ChatMessage.objects.filter(pk=message.pk).update(
            status=MessageStatus.CANCELLED,
            claimed_until=None,
            next_attempt_at=None,
            error="The channel was deactivated before this message was sent.",
        )
        return message

    attempt = message.attempts + 1
    body = json.dumps(message.body, cls=DjangoJSONEncoder, ensure_ascii=False).encode()
    result = transport.post(
        channel.webhook_url, body, {"X-ITSM-Trace-Id": str(message.trace_id)}, timeout=timeout
    )
    finished = timezone.now()
    verdict = classify(channel.kind, result)
    if verdict.outcome == RETRY and attempt >= message.max_attempts:
        verdict = Verdict.failed(f"gave up after {attempt} attempts: {verdict.reason}")

    fields: dict[str, Any] = {
        "attempts": attempt,
        "last_attempt_at": now,
        "claimed_until": None,
        "response_code": result.status_code,
        "response_excerpt": result.body,
        "error": verdict.reason,
    }
    next_attempt_at = None
    if verdict.outcome == SENT:
        fields.update(status=MessageStatus.SENT, sent_at=finished, next_attempt_at=None)
    elif verdict.outcome == RETRY:
        delay = transport.backoff_delay(
            attempt,
            base=settings.CHAT_BACKOFF_BASE_SECONDS,
            maximum=settings.CHAT_BACKOFF_MAX_SECONDS,
            retry_after=result.retry_after_seconds(finished),
        )
        next_attempt_at = finished + delay
        fields.update(status=MessageStatus.RETRYING, next_attempt_at=next_attempt_at)
    else:
        fields.update(status=MessageStatus.FAILED, next_attempt_at=None)

    with transaction.atomic():
        ChatMessage.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(**fields)
        if verdict.outcome == SENT:
            ChatChannel.objects.filter(pk=channel.pk).update(last_success_at=finished)
        else:
            ChatChannel.objects.filter(pk=channel.pk).update(
                last_error=verdict.reason[:1000], last_error_at=finished
            )
        if next_attempt_at is not None:
            schedule_attempt(message.pk, at=next_attempt_at)
        elif verdict.outcome != SENT:
            _tell_admins(channel, verdict.reason)
    log = logger.info if verdict.outcome == SENT else logger.warning
    log(
        "chat %s message %s (%s) attempt %s: %s %s (trace %s)",
        channel.kind,
        message.pk,
        message.event,
        attempt,
        verdict.outcome,
        verdict.reason,
        message.trace_id,
    )
    for name, value in fields.items():
        setattr(message, name, value)
    return message


def _tell_admins(channel: ChatChannel, reason: str) -> None:
    """A channel that fails for good shows up in the admins' bell (once a day per channel)."""
    from itsm.notify import notify

    notify(
        User.objects.active().filter(role="admin"),
        verb="chat.failed",
        title=f"Chat channel {channel.name} failed: {reason}"[:300],
        url=f"/admin/chat/chatchannel/{channel.pk}/change/",
        subject_type="chat_channel",
        subject_id=channel.pk,
        dedupe_key=f"chat-failed:{channel.pk}:{timezone.now():%Y-%m-%d}",
    )


# --- by hand --------------------------------------------------------------------------------
def check_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("Only admins manage chat channels.")


@transaction.atomic
def do_send_test_message(channel: ChatChannel, *, actor: User | None) -> ChatMessage:
    check_admin(actor)
    if not channel.active:
        raise ValidationError({"channel": "The channel is inactive; activate it first."})
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
    schedule_attempt(message.pk)
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
    schedule_attempt(message.pk)
    message.refresh_from_db()
    return message


def do_requeue_stalled_chat(now: datetime | None = None) -> int:
    return outbox.requeue_stalled(ChatMessage, schedule_attempt, now or timezone.now())
