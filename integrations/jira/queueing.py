"""Queueing Jira work once: a stored delivery's processing, a ticket's push, and the sweep that
re-queues what waited too long (a worker that gave up, a job lost with its worker).

The jobs are named, not imported: ``integrations/jira/tasks.py`` imports the code that calls
these (outbound, reconcile, admin), so naming the task keeps the import one way.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations.jira import client as jira_client
from integrations.jira.models import OutboundChange, WebhookReceipt
from itsm.lib.tasks import defer_once

PROCESS_RECEIPT = "integrations.jira.tasks.process_receipt"
PUSH_TICKET = "integrations.jira.tasks.push_ticket"
STALE_AFTER = timedelta(minutes=5)


def defer_receipt(receipt_id: int) -> bool:
    """Queue a receipt's processing (inside the transaction that stored it), once."""
    return defer_once(PROCESS_RECEIPT, lock=f"jira-receipt-{receipt_id}", receipt_id=receipt_id) is not None


def defer_push(ticket_id: int) -> bool:
    """Queue a push for the ticket unless one is already waiting (one job sends them all);
    pushes of one ticket run one at a time."""
    return (
        defer_once(PUSH_TICKET, lock=f"jira-push-{ticket_id}", serial=True, ticket_id=ticket_id) is not None
    )


def sweep_waiting(*, older_than: timedelta = STALE_AFTER) -> dict:
    """Re-queue deliveries and pushes still waiting after ``older_than`` (nothing is lost)."""
    before = timezone.now() - older_than
    waiting = WebhookReceipt.objects.waiting_since(before).values_list("pk", flat=True)[:500]
    receipts = sum(defer_receipt(receipt_id) for receipt_id in waiting)
    pushes = 0
    if jira_client.is_configured():
        ticket_ids = set(
            OutboundChange.objects.waiting_since(before).values_list("ticket_id", flat=True)[:500]
        )
        pushes = sum(defer_push(ticket_id) for ticket_id in ticket_ids)
    return {"receipts": receipts, "pushes": pushes}
