"""Ticket mail through a real worker: sent after commit; a mail server outage waits for the retry."""

import pytest
from django.core import mail
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.email.models import EmailThreadMessage, OutboundStatus
from tickets.actions import do_add_comment


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_mails_the_reply_and_retries_when_smtp_is_down(
    clean_queue, settings, requester, agent, make_ticket, run_worker
):
    settings.EMAIL_SEND_REPLIES = True
    ticket = make_ticket("Disk full")
    settings.EMAIL_BACKEND = "integrations.email.tests.test_outbound.BrokenBackend"
    do_add_comment(ticket, actor=agent, body="Cleaning up.")
    run_worker(queues=["email"])
    reply = EmailThreadMessage.objects.get(ticket=ticket, kind="reply")
    assert reply.status == OutboundStatus.PENDING
    assert "SMTP server down" in reply.error
    job = ProcrastinateJob.objects.get(args={"thread_message_id": reply.pk})
    assert job.status == "todo" and job.attempts == 1 and job.scheduled_at is not None  # retry waits

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ProcrastinateJob.objects.filter(pk=job.pk).update(scheduled_at=None)  # its time has come
    run_worker(queues=["email"])
    reply.refresh_from_db()
    assert reply.status == OutboundStatus.SENT
    assert [m.subject for m in mail.outbox] == [f"[{ticket.number}] Disk full"]
