"""What /healthz and /metrics report: database, worker heartbeat, queue depth."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max
from django.utils import timezone

from itsm.models import WorkerHeartbeat


@dataclass
class DatabaseStatus:
    ok: bool
    latency_ms: float | None
    error: str | None = None


def check_database() -> DatabaseStatus:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure means "down", reported as such
        return DatabaseStatus(ok=False, latency_ms=None, error=error.__class__.__name__)
    return DatabaseStatus(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 2))


def heartbeat_age_seconds() -> float | None:
    latest = WorkerHeartbeat.objects.aggregate(latest=Max("beat_at"))["latest"]
    if latest is None:
        return None
    return round((timezone.now() - latest).total_seconds(), 1)


def queue_depth() -> dict[str, int]:
    """Jobs waiting (todo) and running (doing), per procrastinate's own table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, count(*) FROM procrastinate_jobs "
            "WHERE status IN ('todo', 'doing') GROUP BY status"
        )
        counts = dict(cursor.fetchall())
    return {"todo": counts.get("todo", 0), "doing": counts.get("doing", 0)}


def worker_is_stale(age: float | None) -> bool:
    return age is None or age > settings.WORKER_HEARTBEAT_STALE_SECONDS


# Other apps add named sections to /healthz (the AI providers in use, say) without the
# core importing them: each contributor returns a JSON-serialisable dict.
_contributors: dict[str, object] = {}


def register_contributor(name: str, function: object) -> None:
    _contributors[name] = function


def contributions() -> dict[str, object]:
    report = {}
    for name, function in _contributors.items():
        try:
            report[name] = function()
        except Exception as error:  # noqa: BLE001 - a broken section must not break /healthz
            report[name] = {"error": error.__class__.__name__}
    return report


# --- readiness -----------------------------------------------------------------------------------
# Once a process has seen every migration applied it stays ready (migrations are not undone under
# a running release); until then the plan is computed at most every few seconds (it loads the
# migration graph, tens of milliseconds).
_migrations = {"ready": False, "checked_at": 0.0, "pending": -1}
MIGRATIONS_RECHECK_SECONDS = 5.0


def pending_migrations() -> int:
    """How many migrations of this code are not applied to the database yet."""
    if _migrations["ready"]:
        return 0
    now = time.monotonic()
    if _migrations["pending"] >= 0 and now - float(_migrations["checked_at"]) < MIGRATIONS_RECHECK_SECONDS:
        return int(_migrations["pending"])
    executor = MigrationExecutor(connection)
    pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    _migrations.update(ready=pending == 0, checked_at=now, pending=pending)
    return pending


def forget_migrations() -> None:
    _migrations.update(ready=False, checked_at=0.0, pending=-1)
