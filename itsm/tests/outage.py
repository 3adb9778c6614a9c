"""A service outage lived through on a simulated clock, for the "down for 10 minutes" fault tests.

The real worker runs every job of a queue that is due; a job it retries is put back with
``scheduled_at`` in the future, as its retry strategy decided. Instead of waiting, the clock jumps
to the next job's due time (its wait added to the moment it was retried) and that job is made
due at once. The service comes back when the clock passes the outage. So every attempt happens
in the order and at the simulated time the backoff gives, with no sleeping and no time travel of
the database's ``now()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob


@dataclass
class Outage:
    seconds: float
    attempts: dict[int, list[float]] = field(default_factory=dict)  # job id: simulated times
    back_at: float | None = None
    finished_at: float = 0.0


def live_through(
    run_worker: Callable[..., None],
    queue: str,
    *,
    seconds: float,
    back: Callable[[], None],
    since_job: int = 0,
    task_names: tuple[str, ...] = (),
    max_rounds: int = 100,
) -> Outage:
    """Runs ``queue`` until no job of it (with an id above ``since_job``, of ``task_names`` when
    given) waits; ``back()`` is called once, before the first attempt due at or after ``seconds``
    into the outage. Name the tasks when the queue has periodic ones: the worker defers those
    on the minute, and they would be counted as attempts."""
    outage = Outage(seconds)
    clock = 0.0
    due: dict[int, tuple[float, int]] = {}  # job id: (simulated due time, attempts when retried)
    jobs = ProcrastinateJob.objects.filter(queue_name=queue, id__gt=since_job)
    if task_names:
        jobs = jobs.filter(task_name__in=task_names)
    ran = set(jobs.filter(status="todo").values_list("id", flat=True))
    for _round in range(max_rounds):
        for job_id in ran:
            outage.attempts.setdefault(job_id, []).append(clock)
        run_worker(queues=[queue])
        now = timezone.now()
        waiting = list(jobs.filter(status="todo"))
        if not waiting:
            outage.finished_at = clock
            return outage
        for job in waiting:
            if job.id not in due or due[job.id][1] != job.attempts:
                wait = max(0.0, (job.scheduled_at - now).total_seconds()) if job.scheduled_at else 0.0
                due[job.id] = (clock + round(wait), job.attempts)
        clock = min(due[job.id][0] for job in waiting)
        if outage.back_at is None and clock >= seconds:
            back()
            outage.back_at = clock
        ran = {job.id for job in waiting if due[job.id][0] <= clock}
        jobs.filter(id__in=ran).update(scheduled_at=timezone.now())
    raise AssertionError(f"jobs of {queue} still waiting after {max_rounds} rounds ({clock:.0f} s simulated)")
