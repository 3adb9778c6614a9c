"""The KPI registry: every service figure the dashboards, the API, the snapshots, the reports and
the copilot read, defined once, next to the models it counts.

Domain apps register their KPIs and the ways tickets can be grouped from their
``AppConfig.ready()``; the core imports none of them. A KPI is computed in PostgreSQL by its
``compute`` function (aggregates, ``percentile_cont``), never by loading rows into Python.

    from itsm import kpis

    result = kpis.compute(["mttr_hours", "tickets_resolved"], start, end, group_by="team", user=user)
    result.value("mttr_hours", group="Network")          # {"mean": …, "median": …, "p90": …}
    kpis.compute(["tickets_created"], start, end, interval="day")   # one value per day

Figures are computed over ``[start, end)`` (aware datetimes); days and weeks are those of
``settings.TIME_ZONE``. Counts are 0 when nothing happened; rates and durations are ``None``
when nothing was measured (no resolved ticket: no MTTR), never 0.

A ``compute`` function receives a :class:`Window` and the names of the KPIs it should compute
(KPIs sharing one function are computed by one call, usually one query) and returns
``{(bucket, group_key): {kpi_name: value}}``; ``bucket`` is the first day of the interval
(``None`` without an interval), ``group_key`` the grouping's key (``None`` ungrouped or for
tickets without one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from itsm.models import KPISnapshot

# The groupings every KPI over tickets supports (the tickets app says how to compute them).
GROUPINGS = ("priority", "category", "team", "assignee", "tier", "channel", "type")
INTERVALS = ("day", "week", "month")


class Kind:
    FLOW = "flow"  # happens in the window (created, resolved, breaches): any past range can be rebuilt
    STOCK = "stock"  # a level at the end of the window (backlog): rebuilt from the tickets' history
    NOW = "now"  # only knowable at the moment (at risk now): snapshots keep what was seen each day


class Unit:
    COUNT = "count"
    RATE = "rate"  # 0..1
    HOURS = "hours"
    MINUTES = "minutes"
    TICKETS = "tickets"  # a ratio expressed in tickets (tickets per agent)
    SCORE = "score"  # an average rating out of 5 (satisfaction)


STATS = ("mean", "median", "p90")


@dataclass(frozen=True)
class Window:
    """What one ``compute`` call is asked: a range, an optional grouping, interval and filters."""

    start: datetime
    end: datetime
    group_by: str | None = None
    interval: str | None = None
    # {grouping name: key}: only tickets of that team (say) count.
    filters: tuple[tuple[str, Any], ...] = ()
    time_zone: str = field(default_factory=lambda: settings.TIME_ZONE)
    # Several groupings in one pass (``compute_sets``): each row is counted once per grouping,
    # and the group key says which (``encode_key``); None in the tuple is the whole desk.
    group_sets: tuple[str | None, ...] = ()

    @property
    def includes_desk(self) -> bool:
        """Whether the whole desk (no grouping) is one of the answers."""
        return None in self.group_sets if self.group_sets else self.group_by is None

    @property
    def desk_key(self) -> Any:
        """The group key of the whole desk's row."""
        return encode_key(None, None) if self.group_sets else None

    @property
    def params(self) -> dict[str, Any]:
        values: dict[str, Any] = {"start": self.start, "end": self.end, "tz": self.time_zone}
        for index, (_name, key) in enumerate(self.filters):
            values[f"filter_{index}"] = key
        return values

    def bucket(self, column: str) -> str:
        """SQL for the first day of the interval ``column`` falls in (local days), or NULL."""
        if self.interval is None:
            return "NULL::date"
        return f"date_trunc('{self.interval}', ({column}) AT TIME ZONE %(tz)s)::date"

    def bucket_starts(self) -> list[date]:
        """Every bucket of the window, in order (empty without an interval)."""
        if self.interval is None:
            return []
        tz = ZoneInfo(self.time_zone)
        first = truncate(self.start.astimezone(tz).date(), self.interval)
        last = (self.end - timedelta(microseconds=1)).astimezone(tz).date()
        starts = []
        current = first
        while current <= last:
            starts.append(current)
            current = next_bucket(current, self.interval)
        return starts

    def ends_now(self, now: datetime | None = None) -> bool:
        return self.end >= (now or timezone.now())


def truncate(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def next_bucket(day: date, interval: str) -> date:
    if interval == "week":
        return day + timedelta(days=7)
    if interval == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=1)


GROUP_SEPARATOR, NO_KEY = "\x1f", "\x1e"


def encode_key(grouping: str | None, key: Any) -> str:
    return f"{grouping or ''}{GROUP_SEPARATOR}{NO_KEY if key is None else key}"


def decode_key(value: Any) -> tuple[str | None, Any]:
    """(grouping, key) of a row computed with group sets; a plain None is the whole desk."""
    if not isinstance(value, str) or GROUP_SEPARATOR not in value:
        return None, None
    grouping, key = value.split(GROUP_SEPARATOR, 1)
    return grouping or None, None if key == NO_KEY else key


Key = tuple[date | None, Any]
Computed = dict[Key, dict[str, Any]]
ComputeFunction = Callable[[Window, Sequence[str]], Computed]


@dataclass(frozen=True)
class KPI:
    name: str
    label: str  # lazily translated
    unit: str
    description: str  # what counts and which timestamps: shown in docs/analytics.md and the dashboard
    compute: ComputeFunction
    groupings: tuple[str, ...] = GROUPINGS
    kind: str = Kind.FLOW
    # A distribution: the value is {"mean", "median", "p90"}.
    distribution: bool = False
    # Which way is good, for the colour of a change: "up", "down" or "" (neither).
    better: str = ""
    # Bumped when the definition changes: `kpi_snapshot` rebuilds rows of older versions.
    version: int = 1
    app: str = ""
    # The dashboard shows these as tiles, in this order (0: not a tile).
    tile_order: int = 0

    @property
    def empty(self) -> Any:
        """The value when nothing happened: 0 for counts, None (nothing measured) otherwise."""
        counted = self.unit == Unit.COUNT and not self.distribution and self.kind != Kind.NOW
        return 0 if counted else None


@dataclass(frozen=True)
class Grouping:
    """How tickets are grouped: ``column`` is SQL over the ticket alias ``t`` (``joins`` adds
    what it needs); ``labels(keys)`` names the keys for people (one query at most)."""

    name: str
    label: str
    column: str
    joins: str = ""
    labels: Callable[[Iterable[Any]], dict[Any, str]] | None = None
    # Turns what a caller wrote (a team's name, say) into the key; None when unknown.
    resolve: Callable[[str], Any] | None = None
    # (key, label) pairs offered by filters; None when not a filter.
    choices: Callable[[], list[tuple[Any, str]]] | None = None
    # Keys are row ids (team, category, assignee): named by ``labels``, integers in Python.
    integer: bool = False


_kpis: dict[str, KPI] = {}
_groupings: dict[str, Grouping] = {}


def register(kpi: KPI) -> None:
    _kpis[kpi.name] = kpi


def register_grouping(grouping: Grouping) -> None:
    _groupings[grouping.name] = grouping


def get(name: str) -> KPI:
    return _kpis[name]


def names() -> list[str]:
    return sorted(_kpis)


def all_kpis() -> list[KPI]:
    return [_kpis[name] for name in sorted(_kpis, key=lambda name: (_kpis[name].app, name))]


def groupings() -> list[str]:
    return [name for name in GROUPINGS if name in _groupings] + sorted(set(_groupings) - set(GROUPINGS))


def grouping(name: str) -> Grouping:
    return _groupings[name]


def tiles() -> list[KPI]:
    return sorted((kpi for kpi in _kpis.values() if kpi.tile_order), key=lambda kpi: kpi.tile_order)


# --- checks of untrusted input -------------------------------------------------------------------
class KPIInputError(ValueError):
    """Bad input (an unknown KPI or grouping, a reversed range); the message names what is allowed."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        super().__init__(message)


def check_names(requested: Iterable[str]) -> list[str]:
    requested = list(requested)
    unknown = [name for name in requested if name not in _kpis]
    if unknown:
        raise KPIInputError(
            "metric", f"Unknown KPI {', '.join(map(repr, unknown))}; allowed: {', '.join(names())}."
        )
    return requested


def check_grouping(group_by: str | None) -> str | None:
    if group_by in (None, ""):
        return None
    if group_by not in _groupings:
        raise KPIInputError("group_by", f"Unknown group_by {group_by!r}; allowed: {', '.join(groupings())}.")
    return group_by


def check_interval(interval: str | None) -> str | None:
    if interval in (None, ""):
        return None
    if interval not in INTERVALS:
        raise KPIInputError("interval", f"Unknown interval {interval!r}; allowed: {', '.join(INTERVALS)}.")
    return interval


def check_reader(user: Any) -> None:
    """Agents, admins and viewers read KPIs; requesters (and anonymous callers) do not."""
    if user is None:
        return  # the system itself (snapshots, commands)
    if not getattr(user, "is_authenticated", False) or not user.is_active or user.is_requester:
        raise PermissionDenied("KPIs are for agents, admins and viewers.")


def day_bounds(first: date, last: date, time_zone: str | None = None) -> tuple[datetime, datetime]:
    """``[first 00:00, last + 1 day 00:00)`` in the site's time zone, as aware datetimes."""
    if last < first:
        raise KPIInputError("to", f"The range ends ({last}) before it starts ({first}).")
    tz = ZoneInfo(time_zone or settings.TIME_ZONE)
    return (
        datetime.combine(first, time(0), tzinfo=tz),
        datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz),
    )


def local_today() -> date:
    return timezone.localdate(timezone.now(), ZoneInfo(settings.TIME_ZONE))


# --- computing -------------------------------------------------------------------------------------
@dataclass
class Row:
    bucket: date | None
    group: Any  # the grouping's key (None ungrouped, or tickets without one)
    label: str | None  # the group's name for people
    values: dict[str, Any]


@dataclass
class Result:
    names: list[str]
    start: datetime
    end: datetime
    group_by: str | None
    interval: str | None
    rows: list[Row]

    def value(self, name: str, *, group: Any = None, bucket: date | None = None) -> Any:
        """One figure: by the group's key or label (None: the ungrouped row)."""
        for row in self.rows:
            if row.bucket == bucket and (row.group == group or (group is not None and row.label == group)):
                return row.values.get(name, get(name).empty)
        return get(name).empty

    def groups(self) -> list[Row]:
        return [row for row in self.rows if row.bucket is None]


def _resolve_filters(filters: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    resolved = []
    for name, value in (filters or {}).items():
        if value in (None, ""):
            continue
        check_grouping(name)
        item = _groupings[name]
        key = value
        if item.resolve is not None and isinstance(value, str):
            key = item.resolve(value)
            if key is None:
                raise KPIInputError(name, f"Unknown {name} {value!r}.")
        resolved.append((name, key))
    return tuple(resolved)


def compute(
    names: Sequence[str],
    start: datetime,
    end: datetime,
    group_by: str | None = None,
    *,
    user: Any,
    interval: str | None = None,
    filters: dict[str, Any] | None = None,
) -> Result:
    """Compute KPIs over ``[start, end)``; ``user`` must be allowed to read them (None: the system).

    KPIs that do not support ``group_by`` give their empty value in every grouped row. One call
    per distinct compute function, whatever the number of KPIs it serves.
    """
    check_reader(user)
    names = check_names(names)
    group_by = check_grouping(group_by)
    interval = check_interval(interval)
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("KPI windows need aware datetimes.")
    if end <= start:
        raise KPIInputError("to", "The range must end after it starts.")
    window = Window(
        start=start, end=end, group_by=group_by, interval=interval, filters=_resolve_filters(filters)
    )
    merged: dict[Key, dict[str, Any]] = {}
    by_function: dict[ComputeFunction, list[str]] = {}
    for name in names:
        kpi = _kpis[name]
        if group_by is not None and group_by not in kpi.groupings:
            continue
        if any(filter_name not in kpi.groupings for filter_name, _key in window.filters):
            continue
        if kpi.kind == Kind.STOCK and _stored_level(kpi, window, merged):
            continue  # the level at a past midnight, as that day's snapshot recorded it
        by_function.setdefault(kpi.compute, []).append(name)
    for function, served in by_function.items():
        for key, values in function(window, served).items():
            merged.setdefault(key, {}).update({name: values[name] for name in served if name in values})
    return _shape(names, window, merged)


def _stored_level(kpi: KPI, window: Window, merged: Computed) -> bool:
    """A stock KPI (the backlog) at a past local midnight is read from that day's snapshot
    rather than rebuilt from the whole history; False when there is no such row."""
    end = window.end.astimezone(ZoneInfo(window.time_zone))
    if window.interval is not None or window.ends_now() or end.time() != time(0) or len(window.filters) > 1:
        return False
    rows = KPISnapshot.objects.filter(kpi=kpi.name, day=end.date() - timedelta(days=1), version=kpi.version)
    if window.filters:
        if window.group_by is not None:
            return False
        ((name, key),) = window.filters
        rows = rows.filter(grouping=name, group="" if key is None else str(key))
    else:
        rows = rows.filter(grouping=window.group_by or "")
    found = list(rows.values_list("group", "value"))
    if not found:
        return False
    integer = window.group_by is not None and _groupings[window.group_by].integer
    for stored, value in found:
        key = None if window.group_by is None or stored == "" else (int(stored) if integer else stored)
        merged.setdefault((None, key), {})[kpi.name] = value
    return True


def compute_sets(
    names: Sequence[str],
    start: datetime,
    end: datetime,
    groupings: Sequence[str | None],
    *,
    user: Any,
    filters: dict[str, Any] | None = None,
) -> dict[str | None, Result]:
    """Like ``compute`` for several groupings at once (None: the whole desk), one call per
    compute function for all of them: the dashboard's tiles and breakdowns in one pass."""
    check_reader(user)
    names = check_names(names)
    groupings = [check_grouping(name) for name in groupings]
    if end <= start:
        raise KPIInputError("to", "The range must end after it starts.")
    window = Window(start=start, end=end, filters=_resolve_filters(filters), group_sets=tuple(groupings))
    merged: dict[str | None, Computed] = {grouping: {} for grouping in groupings}
    by_function: dict[ComputeFunction, list[str]] = {}
    for name in names:
        kpi = _kpis[name]
        if any(filter_name not in kpi.groupings for filter_name, _key in window.filters):
            continue
        by_function.setdefault(kpi.compute, []).append(name)
    for function, served in by_function.items():
        for (bucket, encoded), values in function(window, served).items():
            grouping, key = decode_key(encoded)
            if grouping not in merged:
                continue
            if grouping is not None and _groupings[grouping].integer and key is not None:
                key = int(key)
            applicable = [name for name in served if grouping is None or grouping in _kpis[name].groupings]
            merged[grouping].setdefault((bucket, key), {}).update(
                {name: values[name] for name in applicable if name in values}
            )
    return {
        grouping: _shape(names, Window(start=start, end=end, group_by=grouping), merged[grouping])
        for grouping in groupings
    }


def _shape(names: list[str], window: Window, merged: Computed) -> Result:
    buckets: list[date | None] = list(window.bucket_starts()) if window.interval else [None]
    if window.group_by is None:
        group_keys: list[Any] = [None]
    else:
        group_keys = sorted({group for _bucket, group in merged}, key=_sort_key)
    labels = labels_for(window.group_by, group_keys)
    rows = []
    for group in group_keys:
        for bucket in buckets:
            values = merged.get((bucket, group), {})
            rows.append(
                Row(
                    bucket=bucket,
                    group=group,
                    label=labels.get(group),
                    values={name: values.get(name, _kpis[name].empty) for name in names},
                )
            )
    if window.group_by is not None:
        rows.sort(key=lambda row: (row.label is None, str(row.label or "").lower(), row.bucket or date.min))
    return Result(names, window.start, window.end, window.group_by, window.interval, rows)


def _sort_key(value: Any) -> tuple[int, str]:
    return (value is None, str(value))


def labels_for(group_by: str | None, keys: list[Any]) -> dict[Any, str]:
    """Names of a grouping's keys, for people (one query at most)."""
    if group_by is None:
        return {}
    item = _groupings[group_by]
    present = [key for key in keys if key is not None]
    if item.labels is None or not present:
        return {key: str(key) for key in present}
    found = item.labels(present)
    return {key: found.get(key, str(key)) for key in present}


# --- helpers for compute functions -------------------------------------------------------------------
def rounded(value: Any, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def distribution(mean: Any, median: Any, p90: Any, *, digits: int = 2) -> dict[str, float | None] | None:
    """The value of a distribution KPI; None when nothing was measured."""
    if mean is None:
        return None
    return {"mean": rounded(mean, digits), "median": rounded(median, digits), "p90": rounded(p90, digits)}


def ratio(numerator: Any, denominator: Any, digits: int = 4) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def headline(value: Any) -> float | None:
    """One number for a value: a distribution's median, or the value itself."""
    if isinstance(value, dict):
        return value.get("median")
    return value
