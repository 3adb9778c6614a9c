"""Read replicas: read-only work reads from a streaming replica, everything else from the primary.

``DATABASE_REPLICA_URLS`` adds the replicas as database aliases ``replica_1``, ``replica_2``…
(settings.py) and :class:`ReplicaRouter` decides per query:

- Writes always go to the primary (``default``).
- Reads go to the primary unless the work declared itself read-only: a view decorated with
  :func:`replica_reads` (queue and list pages, dashboards, search, API lists) or a block inside
  :func:`reading_from_replica` (an export in the worker). Inside that, reads go to a healthy
  replica, except:
    * inside a transaction on the primary (what it reads must be what it then writes);
    * after the work wrote anything itself (read-your-writes within a request);
    * for a user who wrote in the last ``DATABASE_REPLICA_PIN_SECONDS`` (read-your-writes
      across requests: the pin is kept in the shared cache, so every web node honours it);
    * for the bookkeeping tables (sessions, cache, throttle counters, the queue), which must be
      exact.
- A replica is healthy when it answers and lags at most ``DATABASE_REPLICA_MAX_LAG`` seconds;
  the answer is kept ``DATABASE_REPLICA_CHECK_SECONDS`` per process. A replica that fails in the
  middle of a read-only view is marked down and the view runs again on the primary: the user
  sees the page, not an error.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

# Exact-or-nothing state: always read from the primary, and writing it is not "the user wrote".
PRIMARY_ONLY_APPS = frozenset(
    {
        "sessions",
        "django_cache",
        "procrastinate",
        "security",
        "account",
        "mfa",
        "socialaccount",
        "usersessions",
    }
)
BOOKKEEPING_TABLES = ("itsm_cache", "django_session", "security_ratecounter", "procrastinate_")
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "COPY", "CREATE", "ALTER", "DROP")

LAG_SQL = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9) END"
)


@dataclass
class ReadState:
    """What the current request (or block of work) may read from, and what it did."""

    replica_allowed: bool = False
    wrote: bool = False
    pinned: bool = False
    used: str | None = None  # the replica this work read from, if any


_state: contextvars.ContextVar[ReadState | None] = contextvars.ContextVar("replica_read_state", default=None)
# alias -> (checked at, monotonic seconds; healthy)
_health: dict[str, tuple[float, bool]] = {}


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", []))


def replicas_configured() -> bool:
    return bool(replica_aliases())


# --- health --------------------------------------------------------------------------------------


def replica_lag_seconds(alias: str) -> float:
    """Seconds the replica is behind (0 when it has replayed all it received). Raises when down."""
    with connections[alias].cursor() as cursor:
        cursor.execute(LAG_SQL)
        return float(cursor.fetchone()[0])


def is_healthy(alias: str) -> bool:
    now = time.monotonic()
    checked = _health.get(alias)
    if checked is not None and now - checked[0] < settings.DATABASE_REPLICA_CHECK_SECONDS:
        return checked[1]
    try:
        lag = replica_lag_seconds(alias)
    except Exception as error:  # noqa: BLE001 - any failure means "not usable now"
        logger.warning("replica %s is unreachable (%s); reading from the primary", alias, error)
        _close_quietly(alias)
        healthy = False
    else:
        healthy = lag <= settings.DATABASE_REPLICA_MAX_LAG
        if not healthy:
            logger.warning("replica %s lags %.1f s; reading from the primary", alias, lag)
    _health[alias] = (now, healthy)
    return healthy


def mark_down(alias: str) -> None:
    _health[alias] = (time.monotonic(), False)
    _close_quietly(alias)


def forget_health() -> None:
    """Check every replica again at its next use (tests, and after a failover)."""
    _health.clear()


def _close_quietly(alias: str) -> None:
    try:
        connections[alias].close()
    except Exception:  # noqa: BLE001, S110 - a broken connection may fail to close; it is dropped
        pass


def healthy_replica() -> str | None:
    aliases = replica_aliases()
    random.shuffle(aliases)  # spread the readers over the replicas
    for alias in aliases:
        if is_healthy(alias):
            return alias
    return None


# --- read-your-writes ----------------------------------------------------------------------------


def _pin_key(user_id: object) -> str:
    return f"replicas:primary-for-user:{user_id}"


def pin_to_primary(user_id: object) -> None:
    """This user reads from the primary for the next DATABASE_REPLICA_PIN_SECONDS."""
    cache.set(_pin_key(user_id), 1, timeout=settings.DATABASE_REPLICA_PIN_SECONDS)


def is_pinned(user_id: object) -> bool:
    return user_id is not None and cache.get(_pin_key(user_id)) is not None


def _is_write(sql: str) -> bool:
    head = sql.lstrip()[:12].upper()
    if head.startswith(WRITE_VERBS):
        return not any(table in sql for table in BOOKKEEPING_TABLES)
    if head.startswith("WITH"):
        upper = sql.upper()
        return any(f" {verb} " in upper for verb in ("INSERT", "UPDATE", "DELETE")) and not any(
            table in sql for table in BOOKKEEPING_TABLES
        )
    return False


def _note_writes(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
    state = _state.get()
    if state is not None and not state.wrote and _is_write(sql):
        state.wrote = True
    return execute(sql, params, many, context)


@contextmanager
def tracking_writes() -> Iterator[ReadState]:
    """Notes whether the enclosed work writes to the primary (raw SQL included)."""
    state = _state.get()
    if state is not None:
        yield state
        return
    state = ReadState()
    token = _state.set(state)
    try:
        with connections[DEFAULT_DB_ALIAS].execute_wrapper(_note_writes):
            yield state
    finally:
        _state.reset(token)


@contextmanager
def reading_from_replica(*, user_id: object = None) -> Iterator[ReadState]:
    """Reads inside may come from a replica (see the module's rules)."""
    with tracking_writes() as state:
        before = (state.replica_allowed, state.pinned)
        state.pinned = state.pinned or is_pinned(user_id)
        state.replica_allowed = True
        try:
            yield state
        finally:
            state.replica_allowed, state.pinned = before


@contextmanager
def reading_from_primary() -> Iterator[None]:
    """Reads inside come from the primary, even in work that may read from a replica: for what
    is computed once and kept (``itsm/lib/listcache.py``), which must not keep a lagging copy."""
    state = _state.get()
    if state is None:
        yield
        return
    before = state.replica_allowed
    state.replica_allowed = False
    try:
        yield
    finally:
        state.replica_allowed = before


@contextmanager
def bookkeeping_writes() -> Iterator[None]:
    """Writes inside are the desk's bookkeeping, not the user's changes (a ticket page's
    presence ping, written on every view and every 20 s while it is open): they neither send
    the rest of the request nor the user's next pages to the primary. Without this an agent
    with a ticket open was pinned to the primary for good, and never read the queue from a
    replica."""
    state = _state.get()
    if state is None:
        yield
        return
    before = state.wrote
    try:
        yield
    finally:
        state.wrote = before


def replica_reads(view: Callable) -> Callable:
    """Marks a read-only view: its queries may read from a replica. When the replica fails in the
    middle, the view runs once more on the primary (it wrote nothing, so running it again is safe)."""

    @functools.wraps(view)
    def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
        if not replicas_configured():
            return view(request, *args, **kwargs)
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        with reading_from_replica(user_id=user_id) as state:
            try:
                return view(request, *args, **kwargs)
            except (OperationalError, InterfaceError):
                failed = state.used
                if failed is None or state.wrote:
                    raise
                logger.warning(
                    "replica %s failed during %s; answering from the primary", failed, request.path
                )
                mark_down(failed)
                state.used = None
        with tracking_writes() as state:
            state.replica_allowed = False
            return view(request, *args, **kwargs)

    return wrapped


class ReplicaReadsMixin:
    """For DRF viewsets: ``list`` reads from a replica (the other actions from the primary)."""

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return replica_reads(super().list)(request, *args, **kwargs)  # type: ignore[misc]


class ReadYourWritesMiddleware:
    """Notes whether a request wrote; if it did, its user reads from the primary for a while."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if not replicas_configured():
            return self.get_response(request)
        with tracking_writes() as state:
            response = self.get_response(request)
            user = getattr(request, "user", None)
            if state.wrote and user is not None and user.is_authenticated:
                pin_to_primary(user.pk)
        return response


# --- the router ----------------------------------------------------------------------------------


class ReplicaRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        state = _state.get()
        if state is None or not state.replica_allowed or state.wrote or state.pinned:
            return None
        if model._meta.app_label in PRIMARY_ONLY_APPS:
            return None
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None
        if state.used is None:
            # One replica per request: its pages are consistent with themselves.
            state.used = healthy_replica()
            if state.used is None:
                state.replica_allowed = False
                return None
        return state.used

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # A row read from a replica is the primary's row: relating it to a primary row is fine.
        databases = {DEFAULT_DB_ALIAS, *replica_aliases()}
        if obj1._state.db in databases and obj2._state.db in databases:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db in replica_aliases() else None
