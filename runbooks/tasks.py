"""Background work of runbooks: executions, the resume sweep, auto-matching of new tickets."""

from __future__ import annotations

import logging

from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from itsm.lib.tasks import defer_once
from runbooks.actions import do_match_new_ticket
from runbooks.executor import run_execution as run
from runbooks.executor import runnable_without_worker
from tickets.models import Ticket

logger = logging.getLogger(__name__)

# A database hiccup fails the job before or after a step; the retry takes the lease again and
# goes on from the step's recorded state (a step never runs twice: see runbooks.executor).
RUN_RETRY = RetryStrategy(max_attempts=3, exponential_wait=5)


@app.task(queue="runbooks", pass_context=False, retry=RUN_RETRY)
def run_execution(execution_id: int) -> None:

    logger.info("runbook execution %s: %s", execution_id, run(execution_id))


@app.periodic(cron="* * * * *", periodic_id="runbooks-resume")
@app.task(queue="runbooks", queueing_lock="runbooks-resume", lock="runbooks-resume", pass_context=False)
def resume_executions(timestamp: int | None = None) -> None:
    """Every minute: executions whose worker died (lease lapsed) get a job again."""

    for execution_id in runnable_without_worker():
        defer_once(run_execution, lock=f"runbook-execution:{execution_id}", execution_id=execution_id)


@app.task(queue="runbooks", pass_context=False, retry=RetryStrategy(max_attempts=3, exponential_wait=5))
def match_new_ticket(ticket_id: int) -> None:
    """``auto`` mode: the best runbook of a new ticket (once its items are linked)."""

    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is not None:
        logger.info("runbook matching %s: %s", ticket.number, do_match_new_ticket(ticket).reason)
