"""Background work of approvals: the expiry sweep."""

from __future__ import annotations

import logging

from procrastinate.contrib.django import app

from itsm.approvals.actions import do_expire_approvals

logger = logging.getLogger(__name__)


@app.periodic(cron="* * * * *", periodic_id="approvals-expire")
@app.task(queue="approvals", queueing_lock="approvals-expire", lock="approvals-expire", pass_context=False)
def expire_approvals(timestamp: int | None = None) -> None:
    """Every minute: pending requests past their expiry become expired (idempotent)."""
    count = do_expire_approvals()
    if count:
        logger.info("expired %s approval request(s)", count)
