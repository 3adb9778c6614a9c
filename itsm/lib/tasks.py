"""Deferring procrastinate jobs once: one waiting job per piece of work, whoever asks for it.

Work that only needs to run once however often it is asked for (re-index a source, push a
ticket to Jira, attempt a delivery) is deferred under a *queueing lock* naming that work.
procrastinate refuses a second job while one with the same queueing lock is still waiting
(status ``todo``); the refusal is the expected answer here, not an error. A job that has
started no longer holds the queueing lock, so a change made while it runs gets a fresh job
and is not missed.

Two moments to defer, each with its own function:

- ``defer_once``: inside the current transaction (the house rule for work that follows a
  change). The job row is written with the change and becomes visible to workers when it
  commits; a rollback leaves neither. The duplicate check runs in a savepoint, so a refused
  duplicate does not break the caller's transaction. Returns the new job's id, or None when
  a job was already waiting.
- ``defer_once_on_commit``: after the current transaction commits (at once outside one).
  Nothing is queued on rollback, and the duplicate check sees only committed jobs, so two
  transactions asking for the same work never wait on each other's job row. The answer is
  only known after commit, so nothing is returned; a process that dies between its commit
  and the callback queues nothing, so use it only for work that is made good otherwise
  (re-derived on the next change or by a periodic job), and ``defer_once`` for the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.tasks import Task


def defer_once(
    task: Task | str,
    *,
    lock: str,
    schedule_at: datetime | None = None,
    serial: bool = False,
    **arguments: Any,
) -> int | None:
    """Defer ``task(**arguments)`` in the current transaction unless a job waits under ``lock``.

    ``schedule_at`` delays the job; ``serial`` also makes jobs of this ``lock`` run one after
    another (procrastinate's ``lock``), for work that must not run twice at the same time.
    Returns the job id, or None when a job was already waiting (this request is dropped: the
    waiting job does the work when it runs). ``task`` may be a registered task's name, for a
    module that its task module imports (naming it avoids the import cycle).
    """
    options: dict[str, Any] = {"queueing_lock": lock}
    if schedule_at is not None:
        options["schedule_at"] = schedule_at
    if serial:
        options["lock"] = lock
    try:
        # A savepoint: the refused duplicate must not abort the surrounding transaction.
        with transaction.atomic():
            if isinstance(task, str):
                return app.configure_task(task, allow_unknown=False, **options).defer(**arguments)
            return task.configure(**options).defer(**arguments)
    except AlreadyEnqueued:
        return None


class DeferOnCommit:
    """The on-commit callback of ``defer_once_on_commit`` (it names what it defers)."""

    def __init__(self, task: Task | str, lock: str, serial: bool, arguments: dict[str, Any]) -> None:
        self.task, self.lock, self.serial, self.arguments = task, lock, serial, arguments

    def __call__(self) -> None:
        defer_once(self.task, lock=self.lock, serial=self.serial, **self.arguments)

    def __repr__(self) -> str:
        name = self.task if isinstance(self.task, str) else self.task.name
        return f"<defer {name} once under {self.lock!r}>"


def defer_once_on_commit(task: Task | str, *, lock: str, serial: bool = False, **arguments: Any) -> None:
    """Defer ``task(**arguments)`` once the current transaction commits, unless a job then
    waits under ``lock``; a rollback defers nothing. Outside a transaction: at once."""
    transaction.on_commit(DeferOnCommit(task, lock, serial, arguments))
