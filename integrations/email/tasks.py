"""Email background work: send queued ticket mail; poll the IMAP mailbox when enabled."""

from __future__ import annotations

import logging

from django.conf import settings
from procrastinate import JobContext
from procrastinate.contrib.django import app

from integrations.email import actions, imap
from itsm.lib.retry import MAIL_RETRY

logger = logging.getLogger(__name__)


@app.task(queue="email", retry=MAIL_RETRY, pass_context=True)
def send_ticket_email(context: JobContext, thread_message_id: int) -> None:
    """Hand one queued mail to the mail server; retried for a day while it is down (or while
    another worker's claim on it is fresh), then marked failed (``email_resend`` sends it again)."""
    try:
        actions.do_send_ticket_email(thread_message_id)
    except Exception as error:
        if MAIL_RETRY.get_retry_decision(exception=error, job=context.job) is None:
            actions.do_give_up_ticket_email(thread_message_id, f"{error.__class__.__name__}: {error}")
            logger.error("ticket mail %s failed for good: %s", thread_message_id, error)
            return
        raise


@app.periodic(cron="* * * * *", periodic_id="email-imap-poll")
@app.task(queue="email", queueing_lock="email-imap-poll", pass_context=False)
def poll_imap(timestamp: int | None = None) -> None:
    if not (settings.EMAIL_IMAP_POLL and settings.EMAIL_IMAP_HOST):
        return

    imap.fetch_unseen(lambda raw: actions.do_ingest_email(raw, source="imap"))
