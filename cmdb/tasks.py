"""Background work of the configuration database: reading tickets for mentioned items."""

from __future__ import annotations

import logging

from django.db import transaction
from procrastinate import RetryStrategy
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued

from cmdb.actions import do_extract_ticket_items
from tickets.models import Ticket

logger = logging.getLogger(__name__)

# A database hiccup or a lock timeout fails the job; it is retried.
EXTRACT_RETRY = RetryStrategy(max_attempts=5, exponential_wait=2)


@app.task(queue="cmdb", pass_context=False, retry=EXTRACT_RETRY)
def extract_ticket_items(ticket_id: int) -> None:
    """Find the items a ticket mentions (idempotent: it reads the ticket as it is now)."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return
    outcome = do_extract_ticket_items(ticket)
    logger.info("cmdb extraction %s: %s", ticket.number, outcome)


def defer_extraction_on_commit(ticket_id: int) -> None:
    """Once per ticket and commit: a job already waiting reads the latest text anyway, so a
    second one is not queued (queueing lock); nothing is queued if the transaction rolls back."""

    def defer() -> None:
        try:
            with transaction.atomic():
                extract_ticket_items.configure(queueing_lock=f"cmdb-extract:{ticket_id}").defer(
                    ticket_id=ticket_id
                )
        except AlreadyEnqueued:
            pass

    transaction.on_commit(defer)
