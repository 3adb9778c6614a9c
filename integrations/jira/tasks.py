"""Jira background work: apply deliveries, push local changes, reconcile, sweep, SLA sync.

Every task takes ids, is idempotent and safe under several workers. Transient Jira
failures (down, 429, 5xx, bad credentials) are retried with exponential backoff, honouring
``Retry-After``; the periodic sweep re-queues whatever still waits after the retries.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from procrastinate import RetryDecision
from procrastinate.contrib.django import app

from integrations.jira import client as jira_client
from integrations.jira.inbound.apply import process_receipt as apply_receipt
from integrations.jira.models import ReconcileRun, ReconcileTrigger, WebhookReceipt
from integrations.jira.outbound import push_changes
from integrations.jira.queueing import sweep_waiting
from integrations.jira.reconcile import run_reconcile
from integrations.jira.sla_sync import sync_stale
from integrations.jira.transport import JiraAuthError, JiraUnavailable
from itsm.lib.retry import Backoff

logger = logging.getLogger(__name__)

QUEUE = "jira"


class JiraRetry(Backoff):
    """Exponential backoff (30 s doubling, capped at an hour), at least ``Retry-After``; only
    Jira or the database being unavailable is retried."""

    def __init__(self, *, max_attempts: int = 12, base: int = 30, cap: int = 3600) -> None:
        super().__init__(max_attempts=max_attempts, base=base, cap=cap)

    def get_retry_decision(self, *, exception: BaseException, job: object) -> RetryDecision | None:
        attempts = getattr(job, "attempts", 0)
        if attempts >= self.max_attempts:
            return None
        if not isinstance(exception, JiraUnavailable | JiraAuthError | DatabaseError):
            return None
        wait = self.wait_seconds(attempts)
        retry_after = getattr(exception, "retry_after", None)
        if retry_after:
            wait = max(wait, int(retry_after) + 1)
        return RetryDecision(retry_in={"seconds": int(wait)})


RETRY = JiraRetry()


@app.task(queue=QUEUE, retry=RETRY, pass_context=False)
def process_receipt(receipt_id: int) -> str:
    """Apply one stored webhook delivery."""
    receipt = WebhookReceipt.objects.filter(pk=receipt_id).first()
    if receipt is None:
        return "gone"
    fetch = None
    if jira_client.is_configured():

        def fetch(key: str) -> dict:
            return jira_client.JiraClient().get_issue(key)

    outcome = apply_receipt(receipt, fetch_issue=fetch)
    return outcome.describe() if outcome else receipt.state


@app.task(queue=QUEUE, retry=RETRY, pass_context=False)
def push_ticket(ticket_id: int) -> list[str]:
    """Send a ticket's waiting changes (create, replies, status) to Jira, in order."""
    return push_changes(ticket_id)


@app.task(queue=QUEUE, retry=RETRY, pass_context=False, queueing_lock="jira-reconcile")
def reconcile(since: str, trigger: str = "periodic") -> dict:
    return run_reconcile(since=datetime.fromisoformat(since), trigger=trigger).report()


@app.periodic(cron="* * * * *", periodic_id="jira-auto-reconcile")
@app.task(queue=QUEUE, queueing_lock="jira-auto-reconcile", pass_context=False)
def auto_reconcile(timestamp: int | None = None) -> str:
    """When enabled, reconcile the lookback window every JIRA_AUTO_RECONCILE_INTERVAL_SECONDS."""
    if not settings.JIRA_AUTO_RECONCILE_ENABLED or not jira_client.is_configured():
        return "disabled"
    now = timezone.now()
    last = ReconcileRun.objects.filter(trigger=ReconcileTrigger.PERIODIC).order_by("-started_at").first()
    interval = timedelta(seconds=max(60, settings.JIRA_AUTO_RECONCILE_INTERVAL_SECONDS))
    if last is not None and now - last.started_at < interval - timedelta(seconds=5):
        return "not due"
    since = now - timedelta(days=settings.JIRA_AUTO_RECONCILE_LOOKBACK_DAYS)
    run = run_reconcile(since=since, trigger=ReconcileTrigger.PERIODIC)
    return f"created {run.created}, updated {run.updated}, unchanged {run.unchanged}" if run.ok else run.error


@app.periodic(cron="*/5 * * * *", periodic_id="jira-requeue")
@app.task(queue=QUEUE, queueing_lock="jira-requeue", pass_context=False)
def requeue_waiting(timestamp: int | None = None) -> dict:
    """Re-queue deliveries and pushes still waiting after their jobs gave up (nothing is lost)."""
    return sweep_waiting()


@app.periodic(cron="* * * * *", periodic_id="jira-sla-sync")
@app.task(queue=QUEUE, queueing_lock="jira-sla-sync", pass_context=False)
def sla_sync_batch(timestamp: int | None = None) -> dict:
    """Refresh the JSM SLA of linked open tickets whose copy is older than the staleness limit."""
    return sync_stale()
