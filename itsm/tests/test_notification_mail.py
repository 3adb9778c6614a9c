"""Notification mail goes out once: a job run again (retried, delivered twice, taken back from
a worker that died) sends nothing twice, and an outage loses nothing (``itsm/tasks.py``)."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from itsm.lib.retry import MailBeingSent
from itsm.models import Notification
from itsm.notify import notify
from itsm.tasks import send_notification_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def notification(agent):
    (created,) = notify([agent], verb="ticket_assigned", title="INC-1 is yours", url="/tickets/1/")
    return created


def state(notification: Notification) -> tuple:
    notification.refresh_from_db()
    return notification.email_claimed_at, notification.emailed_at


def claimed(notification: Notification, minutes_ago: float) -> None:
    at = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    Notification.objects.filter(pk=notification.pk).update(email_claimed_at=at)


def test_a_job_run_twice_mails_once(notification, agent):
    assert send_notification_email(notification_id=notification.pk) is True
    assert send_notification_email(notification_id=notification.pk) is False
    [message] = mail.outbox
    assert message.to == [agent.email] and "INC-1 is yours" in message.subject
    claim, sent = state(notification)
    assert claim is None and sent is not None


def test_a_fresh_claim_makes_the_job_wait_and_a_stale_one_is_taken_over(notification, settings):
    settings.EMAIL_SEND_CLAIM_SECONDS = 600
    claimed(notification, 1)  # another worker is sending it now
    with pytest.raises(MailBeingSent):
        send_notification_email(notification_id=notification.pk)
    assert mail.outbox == [] and state(notification)[1] is None
    claimed(notification, 11)  # that worker was killed while sending
    assert send_notification_email(notification_id=notification.pk) is True
    assert len(mail.outbox) == 1 and state(notification)[1] is not None


def test_a_deleted_notification_mails_nobody(notification):
    notification.delete()
    assert send_notification_email(notification_id=notification.pk) is False
    assert mail.outbox == []


def test_a_mail_server_down_leaves_the_mail_to_the_retry_which_sends_it_once(notification, smtp):
    smtp.stop()  # connections refused
    with pytest.raises(ConnectionRefusedError):
        send_notification_email(notification_id=notification.pk)
    assert state(notification) == (None, None)  # no claim kept: the retry takes it at once
    smtp.start()  # on the same port
    assert send_notification_email(notification_id=notification.pk) is True
    assert send_notification_email(notification_id=notification.pk) is False
    assert len(smtp.received) == 1
