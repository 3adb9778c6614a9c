"""Webhook background work: one attempt per job, and a sweeper for lost work."""

from __future__ import annotations

from procrastinate.contrib.django import app

from integrations.webhooks import actions


@app.task(queue="webhooks", pass_context=False)
def deliver_webhook(delivery_id: int) -> None:
    """Send one delivery once; a failure schedules the next attempt itself (see actions)."""
    actions.do_attempt_delivery(delivery_id)


@app.periodic(cron="* * * * *", periodic_id="webhooks-requeue")
@app.task(queue="webhooks", queueing_lock="webhooks-requeue", pass_context=False)
def requeue_webhook_deliveries(timestamp: int | None = None) -> None:
    actions.do_requeue_stalled()
