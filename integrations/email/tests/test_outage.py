"""The mail server down for 10 minutes while a reply to a requester waits (docs/scaling.md "Faults").

A real SMTP server on 127.0.0.1 is stopped (connections refused), an agent answers, and the real
worker runs the send job's attempts over a simulated 10 minutes (itsm/tests/outage.py: the clock
jumps to each retry's due time). The server comes back; the reply is handed over exactly once.
"""

from __future__ import annotations

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.email.models import EmailThreadMessage, OutboundStatus
from integrations.email.tests.fake_smtp import FakeSmtp
from itsm.lib.retry import MAIL_RETRY
from itsm.tests.outage import live_through
from tickets.actions import do_add_comment

TEN_MINUTES = 600


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_reply_waits_through_ten_minutes_of_smtp_down_and_is_sent_once(
    clean_queue, settings, agent, make_ticket, run_worker
):
    smtp = FakeSmtp().start()
    smtp.stop()  # the mail server is down: its port refuses connections
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.EMAIL_SEND_REPLIES = True
    ticket = make_ticket("Disk full")
    since = ProcrastinateJob.objects.order_by("-id").values_list("id", flat=True).first() or 0
    do_add_comment(ticket, actor=agent, body="Cleaning up.")
    reply = EmailThreadMessage.objects.get(ticket=ticket, kind="reply")

    def back() -> None:
        assert smtp.received == [] and reply_status() == OutboundStatus.PENDING  # nothing went out
        smtp.start()  # the same port again

    def reply_status() -> str:
        reply.refresh_from_db()
        return reply.status

    outage = live_through(
        run_worker,
        "email",
        seconds=TEN_MINUTES,
        back=back,
        since_job=since,
        task_names=("integrations.email.tasks.send_ticket_email",),  # not the minute's IMAP poll
    )

    (times,) = outage.attempts.values()
    print(f"\nSMTP down {TEN_MINUTES} s: attempts at {times} s (simulated), back at {outage.back_at} s")
    assert outage.back_at is not None, "the job stopped retrying before the mail server came back"
    assert len([t for t in times if t < TEN_MINUTES]) >= 3  # it kept trying during the outage
    assert len(times) < MAIL_RETRY.max_attempts  # and gave up on none
    assert reply_status() == OutboundStatus.SENT and reply.error == ""
    (received,) = smtp.received  # handed over once
    assert received.recipients == [ticket.requester.email]
    assert received.message["Message-ID"] == reply.message_id
    assert received.message["Subject"] == f"[{ticket.number}] Disk full"
    jobs = ProcrastinateJob.objects.filter(id__gt=since, queue_name="email")
    (job,) = jobs.filter(task_name="integrations.email.tasks.send_ticket_email")
    assert job.status == "succeeded"
    run_worker(queues=["email"])  # nothing left to send twice
    assert len(smtp.received) == 1
    smtp.stop()
