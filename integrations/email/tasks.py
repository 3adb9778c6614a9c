"""Email background work: send queued ticket mail; poll the IMAP mailbox when enabled."""

from __future__ import annotations

import logging

from django.conf import settings
from procrastinate import JobContext, RetryStrategy
from procrastinate.contrib.django import app

from integrations.email import actions, imap

logger = logging.getLogger(__name__)

SEND_RETRIES = 5


@app.task(
    queue="email", retry=RetryStrategy(max_attempts=SEND_RETRIES, exponential_wait=5), pass_context=True
)
def send_ticket_email(context: JobContext, thread_message_id: int) -> None:
    try:
        actions.do_send_ticket_email(thread_message_id)
    except Exception as error:
        if context.job.attempts >= SEND_RETRIES:
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
