"""Background work of triage: classify new tickets, score requester messages, retrain nightly."""

from __future__ import annotations

import logging

from django.conf import settings
from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from ai.triage.actions import do_score_sentiment, do_train_models, do_triage_ticket
from ai.triage.models import TriageSettings
from ai.triage.signals import training_run
from tickets.models import Comment, Ticket

logger = logging.getLogger(__name__)

# A database hiccup or a deadlock with an agent's edit fails the job; it is retried.
TRIAGE_RETRY = RetryStrategy(max_attempts=5, exponential_wait=2)


@app.task(queue="ai", pass_context=False, retry=TRIAGE_RETRY)
def triage_ticket(ticket_id: int) -> None:
    """Predict and store (and in auto mode apply) the triage of one new ticket. Idempotent."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return
    results = do_triage_ticket(ticket)
    logger.info("triaged %s: %s", ticket.number, ", ".join(f"{r.field}={r.status}" for r in results))


@app.task(queue="ai", pass_context=False, retry=TRIAGE_RETRY)
def score_sentiment(ticket_id: int, comment_id: int | None = None) -> None:
    """Score one requester message (the description when ``comment_id`` is None). Idempotent."""
    ticket = Ticket.objects.select_related("organisation", "requester").filter(pk=ticket_id).first()
    if ticket is None:
        return
    comment = None
    if comment_id is not None:
        comment = Comment.objects.filter(pk=comment_id, ticket=ticket).first()
        if comment is None:
            return
    do_score_sentiment(ticket, comment)


@app.periodic(cron=settings.AI_TRIAGE_TRAIN_CRON, periodic_id="ai-triage-train")
@app.task(queue="ai", pass_context=False, queueing_lock="ai-triage-train", lock="ai-triage-train")
def train_triage_models(timestamp: int | None = None) -> None:
    """Nightly: retrain when tickets were resolved since the active model (and the admin allows it)."""
    if not TriageSettings.load().retrain_automatically:
        return
    model, outcome = do_train_models()
    if model is not None:
        logger.info("trained triage %s on %s", model.label, model.training_rows)
    elif outcome is not None:
        logger.info("triage training skipped every field: %s", outcome.skipped)
    for receiver, summary in training_run.send_robust(sender=train_triage_models, force=False, limit=None):
        # One failing refit (the quick fix's calibration, say) does not stop the others.
        if isinstance(summary, Exception):
            logger.error("refit by %s failed: %s", getattr(receiver, "__qualname__", receiver), summary)
        else:
            logger.info("%s", summary)
