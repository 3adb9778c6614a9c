"""Posting to local servers that answer like Teams and Slack, including their errors."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from integrations.chat import actions
from integrations.chat.models import ChannelKind, ChatChannel, ChatMessage, MessageStatus
from integrations.webhooks.tests import fakes
from integrations.webhooks.tests.fakes import worker_took_jobs
from itsm.models import Notification


@pytest.fixture
def critical_message(db, make_ticket, fast_chat):
    def make(kind: str, url: str) -> ChatMessage:
        channel = ChatChannel.objects.create(name=f"{kind} ops", kind=kind, webhook_url=url)
        make_ticket("Core router down", impact="high", urgency="high")
        worker_took_jobs()
        return ChatMessage.objects.get(channel=channel)

    return make


def attempt(message: ChatMessage) -> ChatMessage:
    with time_machine.travel(message.next_attempt_at + timedelta(seconds=1)):
        actions.do_attempt_chat_message(message.pk)
    message.refresh_from_db()
    worker_took_jobs()
    return message


@pytest.mark.parametrize(
    ("kind", "reply"),
    [
        (ChannelKind.TEAMS_WORKFLOWS, fakes.TEAMS_WORKFLOWS_ACCEPTED),
        (ChannelKind.TEAMS_LEGACY, fakes.TEAMS_LEGACY_OK),
        (ChannelKind.SLACK, fakes.SLACK_OK),
    ],
)
def test_it_posts_and_recognises_each_services_success(critical_message, service, kind, reply):
    receiver = service(reply)
    message = attempt(critical_message(kind, receiver.url))
    assert message.status == MessageStatus.SENT
    (request,) = receiver.requests
    assert request.json() == message.body
    assert request.headers["content-type"] == "application/json"
    assert message.channel.__class__.objects.get(pk=message.channel_id).last_success_at is not None
    # A retried job never posts a sent message again.
    assert actions.do_attempt_chat_message(message.pk) is None
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("kind", "reply", "reason"),
    [
        (ChannelKind.SLACK, fakes.SLACK_INVALID_PAYLOAD, "HTTP 400 invalid_payload"),
        (ChannelKind.SLACK, fakes.SLACK_CHANNEL_NOT_FOUND, "HTTP 404 channel_not_found"),
        (ChannelKind.SLACK, fakes.SLACK_ARCHIVED, "HTTP 410 channel_is_archived"),
        (ChannelKind.TEAMS_LEGACY, fakes.TEAMS_LEGACY_BAD_CARD, "HTTP error 400"),
        (ChannelKind.TEAMS_WORKFLOWS, fakes.Reply(400, "Bad Request"), "HTTP 400"),
    ],
)
def test_permanent_errors_fail_at_once_and_reach_the_admin(
    critical_message, service, admin_user, kind, reply, reason
):
    receiver = service(reply)
    message = attempt(critical_message(kind, receiver.url))
    assert message.status == MessageStatus.FAILED
    assert message.attempts == 1
    assert reason in message.error
    channel = ChatChannel.objects.get(pk=message.channel_id)
    assert reason in channel.last_error
    assert Notification.objects.filter(recipient=admin_user, verb="chat.failed").count() == 1


@pytest.mark.parametrize(
    ("kind", "reply"),
    [
        (ChannelKind.SLACK, fakes.SLACK_ROLLUP_ERROR),
        (ChannelKind.SLACK, fakes.SLACK_RATE_LIMITED),
        (ChannelKind.TEAMS_LEGACY, fakes.TEAMS_LEGACY_THROTTLED),
        (ChannelKind.TEAMS_WORKFLOWS, fakes.Reply(503, "")),
        (ChannelKind.TEAMS_WORKFLOWS, fakes.Reply(hang=True)),
    ],
)
def test_transient_errors_are_retried_until_they_pass(critical_message, service, kind, reply):
    ok = (
        fakes.SLACK_OK
        if kind == ChannelKind.SLACK
        else (fakes.TEAMS_LEGACY_OK if kind == ChannelKind.TEAMS_LEGACY else fakes.TEAMS_WORKFLOWS_ACCEPTED)
    )
    receiver = service(reply, ok)
    message = attempt(critical_message(kind, receiver.url))
    assert message.status == MessageStatus.RETRYING
    assert message.next_attempt_at >= message.last_attempt_at + timedelta(seconds=30)
    message = attempt(message)
    assert message.status == MessageStatus.SENT
    assert message.attempts == 2
    assert len(receiver.requests) == 2


def test_slack_rate_limit_honours_retry_after(critical_message, service):
    receiver = service(fakes.SLACK_RATE_LIMITED)
    message = attempt(critical_message(ChannelKind.SLACK, receiver.url))
    assert message.next_attempt_at >= message.last_attempt_at + timedelta(seconds=120)


def test_it_gives_up_after_the_last_attempt(critical_message, service, admin_user):
    receiver = service(fakes.SLACK_ROLLUP_ERROR)
    message = critical_message(ChannelKind.SLACK, receiver.url)
    for _ in range(3):  # CHAT_MAX_ATTEMPTS = 3
        message = attempt(message) if message.next_attempt_at else message
    assert message.status == MessageStatus.FAILED
    assert message.attempts == 3
    assert "gave up after 3 attempts" in message.error
    assert Notification.objects.filter(recipient=admin_user, verb="chat.failed").exists()


def test_a_failed_message_is_sent_again_by_hand(critical_message, service, admin_user, agent):
    receiver = service(fakes.SLACK_CHANNEL_NOT_FOUND, fakes.SLACK_OK)
    message = attempt(critical_message(ChannelKind.SLACK, receiver.url))
    assert message.status == MessageStatus.FAILED
    with pytest.raises(actions.PermissionDenied):
        actions.do_retry_chat_message(message, actor=agent)
    message = actions.do_retry_chat_message(message, actor=admin_user)
    worker_took_jobs()
    message = attempt(message)
    assert message.status == MessageStatus.SENT
    with pytest.raises(actions.ValidationError):
        actions.do_retry_chat_message(message, actor=admin_user)


def test_a_stuck_message_is_requeued(critical_message, service):
    receiver = service(fakes.SLACK_OK)
    message = critical_message(ChannelKind.SLACK, receiver.url)
    now = timezone.now()
    ChatMessage.objects.filter(pk=message.pk).update(
        status="sending", claimed_until=now - timedelta(seconds=1)
    )
    assert actions.do_requeue_stalled_chat(now) == 1
    assert actions.do_requeue_stalled_chat(now) == 0
    message = attempt(ChatMessage.objects.get(pk=message.pk))
    assert message.status == MessageStatus.SENT
