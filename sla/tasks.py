"""SLA background work: the sweep every minute, the risk model retrained nightly.

Both carry a queueing lock, so a slow run is never queued twice; running two at once anyway
(two workers, an operator's ``sla_run``) is safe, see ``sla.sweep``.
"""

from __future__ import annotations

import logging

from procrastinate.contrib.django import app

from sla.risk import train_model
from sla.sweep import run_sweep

logger = logging.getLogger(__name__)


@app.periodic(cron="* * * * *", periodic_id="sla-sweep")
@app.task(queue="sla", queueing_lock="sla-sweep", pass_context=False)
def sla_sweep(timestamp: int | None = None) -> None:
    report = run_sweep()
    if report.warnings or report.breaches or report.escalations:
        logger.info(
            "SLA sweep: %s at risk, %s breached, %s escalations, %s risk evaluations in %s ms",
            report.warnings,
            report.breaches,
            report.escalations,
            report.risk_evaluations,
            report.duration_ms,
        )


@app.periodic(cron="17 3 * * *", periodic_id="sla-train-risk")
@app.task(queue="sla", queueing_lock="sla-train-risk", pass_context=False)
def train_sla_risk_model(timestamp: int | None = None) -> None:
    result = train_model()
    logger.info("SLA risk model: %s", result.message)
