"""Daily KPI snapshots: one row per day × KPI × group (``KPISnapshot``).

Flow and stock KPIs of any past day are rebuilt from the tickets and their audit trail; the
figures only knowable at the moment (``Kind.NOW``: at risk now, known errors) are recorded for
today by the periodic task and kept afterwards. Writing a day replaces its rows for the KPIs
written, in one transaction, so re-running a day never duplicates and a reader never sees half.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from itsm import kpis
from itsm.kpis import Kind
from itsm.models import KPISnapshot

WHOLE = ""  # the grouping of the whole desk's rows


def rebuildable() -> list[str]:
    return [kpi.name for kpi in kpis.all_kpis() if kpi.kind != Kind.NOW]


def momentary() -> list[str]:
    return [kpi.name for kpi in kpis.all_kpis() if kpi.kind == Kind.NOW]


def group_key(key: Any) -> str:
    return "" if key is None else str(key)


def _rows(result: kpis.Result, grouping: str, computed_at: Any) -> list[KPISnapshot]:
    rows = []
    for row in result.rows:
        for name, value in row.values.items():
            rows.append(
                KPISnapshot(
                    day=row.bucket,
                    kpi=name,
                    grouping=grouping,
                    group=group_key(row.group),
                    value=value,
                    version=kpis.get(name).version,
                    computed_at=computed_at,
                )
            )
    return rows


def _grouping_names(names: list[str], grouping: str | None) -> list[str]:
    if grouping is None:
        return names
    return [name for name in names if grouping in kpis.get(name).groupings]


@transaction.atomic
def write_days(first: date, last: date, *, names: Iterable[str] | None = None) -> int:
    """Rebuild ``[first, last]`` (local days) for the rebuildable KPIs, every grouping; today's
    momentary KPIs are recorded too when today is in the range. Returns the rows written."""
    names = list(names) if names is not None else rebuildable()
    now = timezone.now()
    today = kpis.local_today()
    start, end = kpis.day_bounds(first, min(last, today))
    if end <= start:
        return 0
    rows: list[KPISnapshot] = []
    written: list[tuple[list[str], str, date, date]] = []
    for grouping in [None, *kpis.groupings()]:
        served = _grouping_names(names, grouping)
        if not served:
            continue
        result = kpis.compute(served, start, end, grouping, user=None, interval="day")
        rows += _rows(result, grouping or WHOLE, now)
        written.append((served, grouping or WHOLE, first, min(last, today)))
    if first <= today <= last:
        day_start, day_end = kpis.day_bounds(today, today)
        for grouping in [None, *kpis.groupings()]:
            served = _grouping_names(momentary(), grouping)
            if not served:
                continue
            result = kpis.compute(served, day_start, day_end, grouping, user=None)
            for row in result.rows:
                row.bucket = today
            rows += _rows(result, grouping or WHOLE, now)
            written.append((served, grouping or WHOLE, today, today))
    # Replace, never add: the rows of these days, KPIs and groupings go, the new ones come.
    for served, grouping, day_from, day_to in written:
        KPISnapshot.objects.filter(
            day__gte=day_from, day__lte=day_to, kpi__in=served, grouping=grouping
        ).delete()
    KPISnapshot.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def snapshot_recent() -> int:
    """What the periodic task writes: yesterday (late changes settle it) and today so far."""
    today = kpis.local_today()
    return write_days(today - timedelta(days=1), today)


@dataclass
class Chunk:
    first: date
    last: date


def chunks(first: date, last: date, size: int) -> list[Chunk]:
    result = []
    current = first
    while current <= last:
        end = min(current + timedelta(days=size - 1), last)
        result.append(Chunk(current, end))
        current = end + timedelta(days=1)
    return result


def complete_days(first: date, last: date, names: list[str]) -> set[date]:
    """Days whose whole-desk rows exist for every KPI at its current version (for ``--resume``)."""
    versions = {name: kpis.get(name).version for name in names}
    counts: dict[date, int] = {}
    for day, name, version in KPISnapshot.objects.filter(
        day__gte=first, day__lte=last, grouping=WHOLE, kpi__in=names
    ).values_list("day", "kpi", "version"):
        if versions.get(name) == version:
            counts[day] = counts.get(day, 0) + 1
    return {day for day, count in counts.items() if count >= len(names)}


def rebuild(
    first: date,
    last: date,
    *,
    chunk_days: int = 31,
    resume: bool = False,
    progress: Callable[[int, int, Chunk, int], None] | None = None,
) -> int:
    """Rebuild every day from ``first`` to ``last``, a chunk (one transaction) at a time.

    Interrupted, it can be run again with ``resume``: chunks whose days are all complete at the
    current definitions are skipped. Returns the rows written.
    """
    names = rebuildable()
    todo = chunks(first, last, chunk_days)
    done_days = complete_days(first, last, names) if resume else set()
    total = 0
    for index, chunk in enumerate(todo, start=1):
        days = {chunk.first + timedelta(days=n) for n in range((chunk.last - chunk.first).days + 1)}
        if resume and days <= done_days and chunk.last < kpis.local_today():
            written = 0
        else:
            written = write_days(chunk.first, chunk.last, names=names)
        total += written
        if progress is not None:
            progress(index, len(todo), chunk, written)
    return total


# --- reading ---------------------------------------------------------------------------------------
def series(
    name: str,
    first: date,
    last: date,
    *,
    grouping: str | None = None,
    filters: dict[str, Any] | None = None,
    user: Any = None,
) -> dict[Any, dict[date, Any]]:
    """Daily values of one KPI, ``{group_key: {day: value}}`` (key None ungrouped).

    Past days come from the snapshots; today, and any past day without a row at the current
    definition, are computed live in one call. One filter (the dashboard's team) reads the rows
    of that grouping: the team's rows are the team filter's answer.
    """
    kpi = kpis.get(name)
    kpis.check_reader(user)
    today = kpis.local_today()
    last = min(last, today)
    stored_grouping, stored_group = grouping or WHOLE, None
    if filters:
        if grouping is not None or len(filters) != 1:
            raise kpis.KPIInputError("group_by", "A filtered series takes one filter and no grouping.")
        ((filter_name, filter_key),) = filters.items()
        stored_grouping, stored_group = filter_name, group_key(filter_key)
    values: dict[Any, dict[date, Any]] = {}
    seen: set[date] = set()
    stored = KPISnapshot.objects.filter(
        kpi=name, grouping=stored_grouping, day__gte=first, day__lt=today, version=kpi.version
    )
    if stored_group is not None:
        stored = stored.filter(group=stored_group)
    for day, key, value in stored.values_list("day", "group", "value"):
        values.setdefault(None if grouping is None else key, {})[day] = value
        seen.add(day)
    wanted = {first + timedelta(days=n) for n in range((last - first).days + 1)}
    missing = wanted - seen
    if kpi.kind == Kind.NOW:
        missing &= {today}  # a past moment cannot be measured again
    rows: list[kpis.Row] = []
    if today in missing:
        # Today as it stands: one window ending tonight (a level is counted now, not rebuilt).
        start, end = kpis.day_bounds(today, today)
        rows += kpis.compute([name], start, end, grouping, user=user, filters=filters).rows
        for row in rows:
            row.bucket = today
    past = missing - {today}
    if past:
        start, end = kpis.day_bounds(min(past), max(past))
        rows += kpis.compute([name], start, end, grouping, user=user, interval="day", filters=filters).rows
    for row in rows:
        if row.bucket in missing:
            key = None if grouping is None else group_key(row.group)
            values.setdefault(key, {})[row.bucket] = row.values[name]
    return values
