"""The outbox loop shared by webhook deliveries and chat messages, run through both kinds.

Each kind posts to a local server that answers as its service does; what the loop owns
(claim, backoff, give up, requeue) must behave the same for both.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations import outbox
from integrations.chat.actions import CHATS
from integrations.chat.models import ChannelKind, ChatChannel, ChatMessage
from integrations.webhooks.actions import WEBHOOKS
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from integrations.webhooks.tests import fakes
from integrations.webhooks.tests.fakes import worker_took_jobs
from itsm.models import Notification


@dataclass
class Kind:
    box: outbox.Outbox
    ok: fakes.Reply

    def subscribe(self, url: str) -> None:
        if self.box is WEBHOOKS:
            WebhookSubscription.objects.create(name="n8n", url=url, events=["ticket.critical"])
        else:
            ChatChannel.objects.create(name="ops", kind=ChannelKind.SLACK, webhook_url=url)


KINDS = {
    "webhook": Kind(WEBHOOKS, fakes.N8N_ACCEPTED),
    "chat": Kind(CHATS, fakes.SLACK_OK),
}


@pytest.fixture(params=list(KINDS))
def kind(request, fast_webhooks, fast_chat) -> Kind:  # both: at most 3 attempts, backoff from 30 s
    return KINDS[request.param]


@pytest.fixture
def queued(db, make_ticket, kind, service):
    """``queued(*replies)``: a receiver answering ``replies`` and the message queued for it."""

    def make(*replies: fakes.Reply):
        receiver = service(*replies)
        kind.subscribe(receiver.url)
        make_ticket("Core switch down", impact="high", urgency="high")
        worker_took_jobs()
        return kind.box.model.objects.get(event="ticket.critical"), receiver

    return make


def attempt(kind: Kind, message):
    """Run the message's next attempt when it is due, as its job would."""
    with time_machine.travel(message.next_attempt_at + timedelta(seconds=1)):
        kind.box.attempt(message.pk)
    message.refresh_from_db()
    return message


def waiting_job(kind: Kind, message) -> ProcrastinateJob:
    (job,) = ProcrastinateJob.objects.filter(queueing_lock=kind.box.lock(message.pk), status="todo")
    return job


def test_the_kinds_share_one_shape():
    assert issubclass(WebhookDelivery, outbox.OutboxMessage)
    assert issubclass(ChatMessage, outbox.OutboxMessage)
    assert (WebhookDelivery.GAVE_UP, ChatMessage.GAVE_UP) == ("dead", "failed")


def test_a_5xx_backs_off_exponentially_and_retries_until_it_passes(kind, queued):
    message, receiver = queued(fakes.Reply(503, "busy"), fakes.Reply(502, ""), kind.ok)
    for expected_wait in (30, 60):  # base × 2^(attempt-1)
        message = attempt(kind, message)
        assert message.status == outbox.RETRYING
        assert "HTTP 50" in message.error
        wait = message.next_attempt_at - message.last_attempt_at
        assert timedelta(seconds=expected_wait) <= wait < timedelta(seconds=expected_wait + 5)
        # The next attempt is one job, due when the row is.
        assert waiting_job(kind, message).scheduled_at == message.next_attempt_at
        worker_took_jobs()
    message = attempt(kind, message)
    assert (message.status, message.attempts, message.error) == (kind.box.model.SUCCEEDED, 3, "")
    assert message.next_attempt_at is None
    assert len(receiver.requests) == 3


def test_a_4xx_means_what_the_kind_says(kind, queued, admin_user):
    message, receiver = queued(fakes.Reply(400, "bad request"), kind.ok)
    message = attempt(kind, message)
    if kind.box is CHATS:
        # A chat service's 4xx will stay wrong: given up at once, the admins are told.
        assert (message.status, message.attempts) == (ChatMessage.GAVE_UP, 1)
        assert not ProcrastinateJob.objects.filter(queueing_lock=kind.box.lock(message.pk)).exists()
        assert Notification.objects.filter(recipient=admin_user, verb="chat.failed").count() == 1
    else:
        # n8n answers 404 while a workflow is inactive: a webhook's 4xx is retried.
        assert message.status == outbox.RETRYING
        waiting_job(kind, message)
        assert not Notification.objects.filter(recipient=admin_user).exists()


def test_it_gives_up_after_the_last_attempt_and_queues_nothing_more(kind, queued, admin_user):
    message, receiver = queued(fakes.Reply(500, "oops"))
    for _ in range(3):
        message = attempt(kind, message)
        worker_took_jobs()
    assert (message.status, message.attempts) == (kind.box.model.GAVE_UP, 3)
    assert message.error == "gave up after 3 attempts: HTTP 500" + (" oops" if kind.box is CHATS else "")
    assert Notification.objects.filter(recipient=admin_user).count() == 1
    assert kind.box.attempt(message.pk) is None
    assert kind.box.requeue_stalled(timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.requests) == 3


def test_a_retried_or_duplicated_job_never_sends_twice(kind, queued):
    message, receiver = queued(kind.ok)
    # Another worker holds the claim and is still sending: this job finds nothing to do.
    assert outbox.claim(kind.box.model, message.pk, now=timezone.now(), timeout=1)
    assert kind.box.attempt(message.pk) is None
    assert kind.box.requeue_stalled(timezone.now()) == 0  # the claim has not expired
    assert receiver.requests == []
    kind.box.model.objects.filter(pk=message.pk).update(status=outbox.PENDING, claimed_until=None)

    message = attempt(kind, message)
    assert message.status == kind.box.model.SUCCEEDED
    # The job runs again (a retry after a timeout of the worker's own): nothing is sent.
    assert kind.box.attempt(message.pk) is None
    assert len(receiver.requests) == 1


def test_a_worker_dying_mid_send_gives_the_message_back_once(kind, queued):
    message, receiver = queued(kind.ok)
    now = timezone.now()
    # A worker claimed the message and died before it recorded anything (its job is gone).
    assert outbox.claim(kind.box.model, message.pk, now=now, timeout=1)
    message.refresh_from_db()
    assert message.status == outbox.SENDING
    later = message.claimed_until + timedelta(seconds=1)
    assert kind.box.requeue_stalled(later) == 1
    assert kind.box.requeue_stalled(later) == 0  # one job waits already
    message.refresh_from_db()
    assert (message.status, message.claimed_until) == (outbox.RETRYING, None)
    assert "worker stopped" in message.error
    waiting_job(kind, message)

    with time_machine.travel(later):
        kind.box.attempt(message.pk)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (kind.box.model.SUCCEEDED, 1)
    assert len(receiver.requests) == 1


def test_a_lost_job_is_deferred_again_without_a_duplicate(kind, queued):
    message, receiver = queued(kind.ok)  # queued, and its job was taken by a worker that vanished
    assert kind.box.requeue_stalled(timezone.now()) == 0  # not overdue yet
    later = message.next_attempt_at + outbox.REQUEUE_GRACE + timedelta(seconds=1)
    assert kind.box.requeue_stalled(later) == 1
    assert kind.box.requeue_stalled(later) == 0
    waiting_job(kind, message)
