"""Ticket mail that must not be lost: a claim left by a killed worker is taken over, a refusal
for good stops early, an outage is retried for a day, and given-up mail can be sent again
(``email_resend``, the admin action) exactly once."""

from __future__ import annotations

import datetime
import smtplib
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.email.actions import MailBeingSent, do_give_up_ticket_email, do_send_ticket_email
from integrations.email.models import EmailThreadMessage, OutboundStatus
from integrations.email.tasks import send_ticket_email
from itsm.lib.retry import MAIL_RETRY
from tickets.actions import do_add_comment

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(settings, agent, make_ticket):
    settings.EMAIL_SEND_REPLIES = True
    ticket = make_ticket("Disk full")
    do_add_comment(ticket, actor=agent, body="Cleaning up.")
    return EmailThreadMessage.objects.get(ticket=ticket, direction="out", kind="reply")


def claimed(message: EmailThreadMessage, minutes_ago: float | None) -> None:
    at = None if minutes_ago is None else timezone.now() - datetime.timedelta(minutes=minutes_ago)
    EmailThreadMessage.objects.filter(pk=message.pk).update(status=OutboundStatus.SENDING, claimed_at=at)


def sends(reply: EmailThreadMessage, attempts: int) -> None:
    """The send job's body at its ``attempts + 1``-th run (``attempts`` runs before it)."""
    send_ticket_email.func(SimpleNamespace(job=SimpleNamespace(attempts=attempts)), reply.pk)


@pytest.mark.parametrize("minutes_ago", [11, None])  # stale, or claimed before claims were dated
def test_a_claim_left_by_a_killed_worker_is_taken_over_once_stale(reply, settings, minutes_ago):
    settings.EMAIL_SEND_CLAIM_SECONDS = 600
    claimed(reply, minutes_ago)
    assert do_send_ticket_email(reply.pk) is True
    assert len(mail.outbox) == 1
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.SENT and reply.claimed_at is not None
    assert do_send_ticket_email(reply.pk) is False  # sent: never twice
    assert len(mail.outbox) == 1


def test_a_fresh_claim_makes_the_job_wait_and_try_again(reply, settings):
    settings.EMAIL_SEND_CLAIM_SECONDS = 600
    claimed(reply, 1)
    with pytest.raises(MailBeingSent):
        do_send_ticket_email(reply.pk)
    assert mail.outbox == []
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.SENDING
    before = timezone.now()
    decision = MAIL_RETRY.get_retry_decision(exception=MailBeingSent(), job=SimpleNamespace(attempts=0))
    assert decision is not None  # retried (30 s later), not given up
    assert 29 <= (decision.retry_at - before).total_seconds() <= 31


def test_mail_given_up_is_not_sent_by_a_late_job(reply):
    do_give_up_ticket_email(reply.pk, "SMTPRecipientsRefused")
    assert do_send_ticket_email(reply.pk) is False
    assert mail.outbox == []


def test_a_refusal_for_good_gives_up_at_the_third_attempt(reply, smtp):
    smtp.refuse[reply.recipients[0]] = "550 5.1.1 no such mailbox"
    for attempts in (0, 1):
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            sends(reply, attempts)
        reply.refresh_from_db()
        assert reply.status == OutboundStatus.PENDING and "550" in reply.error
    sends(reply, 2)  # the third: given up, the job ends without an error
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.FAILED and "SMTPRecipientsRefused" in reply.error
    assert smtp.received == []


def test_a_mailbox_full_for_now_keeps_the_mail_waiting(reply, smtp):
    smtp.refuse[reply.recipients[0]] = "452 4.2.2 mailbox full, try later"
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        sends(reply, 2)  # a 4xx answer is not final: the third attempt is not the last
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.PENDING


def test_a_server_down_is_retried_for_a_day_then_given_up(reply, smtp):
    smtp.stop()  # connections refused
    with pytest.raises(ConnectionRefusedError):
        sends(reply, MAIL_RETRY.max_attempts - 2)
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.PENDING
    sends(reply, MAIL_RETRY.max_attempts - 1)  # the last attempt
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.FAILED and "ConnectionRefusedError" in reply.error
    assert 24 * 3600 <= MAIL_RETRY.horizon_seconds <= 30 * 3600


def run(*args: str) -> str:
    out = StringIO()
    call_command("email_resend", *args, stdout=out)
    return out.getvalue()


def jobs(message: EmailThreadMessage):
    return ProcrastinateJob.objects.filter(
        task_name="integrations.email.tasks.send_ticket_email", args={"thread_message_id": message.pk}
    )


def test_email_resend_lists_then_queues_failed_mail_once(reply):
    ProcrastinateJob.objects.filter(pk__in=jobs(reply)).delete()  # the first job ran out long ago
    do_give_up_ticket_email(reply.pk, "ConnectionRefusedError: down for two days")
    listed = run()
    assert f"{reply.pk} {reply.ticket.number} reply ConnectionRefusedError" in listed
    assert "1 failed mail(s) would be queued again" in listed
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.FAILED and not jobs(reply).exists()  # a dry run
    assert "1 mail(s) queued again." in run("--send")
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.PENDING
    (job,) = jobs(reply)
    assert job.status == "todo" and job.queueing_lock == f"ticket-email:{reply.pk}"
    assert "0 mail(s) queued again." in run("--send", str(reply.pk))  # twice: queued once
    assert jobs(reply).count() == 1
    assert do_send_ticket_email(reply.pk) and len(mail.outbox) == 1


def test_email_resend_refuses_unknown_ids_and_bad_dates_and_changes_nothing(reply):
    do_give_up_ticket_email(reply.pk, "SMTPRecipientsRefused")
    with pytest.raises(CommandError, match=f"No outbound mail with id {reply.pk + 1000}"):
        run("--send", str(reply.pk), str(reply.pk + 1000))
    with pytest.raises(CommandError, match="not an ISO date"):
        run("--send", "--since", "last tuesday")
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.FAILED
    assert "0 failed mail(s)" in run(
        "--since", (timezone.now() + datetime.timedelta(days=1)).date().isoformat()
    )


def test_the_admin_sends_failed_mail_again(client, admin_user, reply, agent, make_ticket):
    do_give_up_ticket_email(reply.pk, "SMTPRecipientsRefused")
    do_add_comment(reply.ticket, actor=agent, body="Second answer.")  # pending: left alone
    waiting = EmailThreadMessage.objects.filter(ticket=reply.ticket, kind="reply").exclude(pk=reply.pk).get()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:mail_emailthreadmessage_changelist"),
        {"action": "send_again", "_selected_action": [reply.pk, waiting.pk]},
        follow=True,
    )
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["1 mail queued again.", "1 left alone: only failed outbound mail is sent again."]
    reply.refresh_from_db()
    waiting.refresh_from_db()
    assert (reply.status, waiting.status) == (OutboundStatus.PENDING, OutboundStatus.PENDING)


def test_notification_mail_waits_out_an_outage_too():
    from itsm.tasks import send_notification_email  # noqa: PLC0415 - the core task, read here only

    assert send_notification_email.retry_strategy is MAIL_RETRY
