"""The outbox discipline shared by outbound webhooks and chat messages.

A row per message is written in the transaction of the change that caused it, with one
waiting job (a procrastinate queueing lock per row); an attempt claims the row by
compare-and-set (``pending``/``retrying`` → ``sending``), so a retried or duplicated job
never sends twice; a claim that outlives its worker, or a job that was lost, is given back
to the queue by a periodic sweep. The models keep their own fields and verdicts; these are
the steps that do not depend on what is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from procrastinate.exceptions import AlreadyEnqueued

# Statuses every outbox model shares (its TextChoices use these values).
PENDING, SENDING, RETRYING = "pending", "sending", "retrying"
WAITING = (PENDING, RETRYING)

CLOCK_SKEW = timedelta(seconds=5)  # a job may start a little before its row says it is due
REQUEUE_GRACE = timedelta(seconds=60)
REQUEUE_BATCH = 500


def insert_once(model: type[models.Model], rows: list[Any], *, deduplicate: bool) -> list[Any]:
    """Insert ``rows``; with ``deduplicate`` a row whose dedupe key exists is skipped (one at a time)."""
    if not rows:
        return []
    if not deduplicate:
        return model.objects.bulk_create(rows)
    created = []
    for row in rows:
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            continue  # the same fact was already queued for this receiver
        created.append(row)
    return created


def schedule(job: Any, lock: str, at: datetime | None = None, **arguments: Any) -> bool:
    """Defer ``job`` unless one is already waiting under ``lock``; False when one was."""
    try:
        with transaction.atomic():
            job.configure(queueing_lock=lock, schedule_at=at).defer(**arguments)
    except AlreadyEnqueued:
        return False
    return True


def claim(model: type[models.Model], pk: int, *, now: datetime, timeout: float) -> bool:
    """Move a waiting, due row to ``sending`` for one attempt; False when there was nothing to claim."""
    return bool(
        model.objects.filter(pk=pk, status__in=WAITING, next_attempt_at__lte=now + CLOCK_SKEW).update(
            status=SENDING, claimed_until=now + timedelta(seconds=3 * timeout + 60)
        )
    )


def requeue_stalled(model: type[models.Model], schedule_one: Callable[[int], bool], now: datetime) -> int:
    """Give lost work back to the queue: expired claims and overdue waiting rows (the model's
    queryset has ``stuck_sending(now)`` and ``overdue(now, grace)``).

    At least once: a lost attempt may or may not have reached the receiver; it is sent again.
    """
    stuck = list(model.objects.stuck_sending(now).values_list("pk", flat=True)[:REQUEUE_BATCH])
    model.objects.filter(pk__in=stuck, status=SENDING).update(
        status=RETRYING,
        claimed_until=None,
        next_attempt_at=now,
        error="The worker stopped during an attempt; retrying.",
    )
    overdue = list(
        model.objects.overdue(now, REQUEUE_GRACE)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:REQUEUE_BATCH]
    )
    return sum(schedule_one(pk) for pk in dict.fromkeys([*stuck, *overdue]))
