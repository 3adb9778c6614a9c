"""Business-time arithmetic: add working seconds to an instant, count working seconds between two.

A ``Schedule`` is the plain, immutable picture of a calendar (time zone, working periods per
weekday, holidays). Periods are local wall-clock times, turned into UTC instants day by day
through ``zoneinfo``, so nights, weekends, holidays and DST changes (a 23- or 25-hour day, a
local 02:30 that does not exist) come out right. Every instant returned is aware, in UTC.

All arithmetic happens on UTC instants: subtracting two aware datetimes that share a tzinfo
compares wall clocks in Python, which is exactly the DST bug this module exists to avoid.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# How far ahead a search for working time goes before calling the calendar empty.
MAX_DAYS = 3 * 366

Period = tuple[time, time | None]  # (start, end); end None means midnight at the end of the day


class NoWorkingTime(ValueError):
    """The calendar has no working time in the searched span (no periods, or all holidays)."""


def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for ``name``; raises ``ValueError`` with a clear message when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(
            f"{name!r} is not a known time zone (use an IANA name such as Europe/Paris)."
        ) from error


@dataclass(frozen=True)
class Schedule:
    """Working time of a calendar. ``weekly[0]`` is Monday; ``always`` means 24×7."""

    time_zone: str = "UTC"
    weekly: tuple[tuple[Period, ...], ...] = ((),) * 7
    holidays: frozenset[date] = field(default_factory=frozenset)
    always: bool = False

    @classmethod
    def around_the_clock(cls, time_zone: str = "UTC", holidays: frozenset[date] = frozenset()) -> Schedule:
        return cls(time_zone=time_zone, holidays=frozenset(holidays), always=True)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.time_zone)

    @property
    def is_continuous(self) -> bool:
        """Every instant counts: plain clock arithmetic applies."""
        return self.always and not self.holidays

    def periods_of(self, day: date) -> tuple[Period, ...]:
        if day in self.holidays:
            return ()
        if self.always:
            return ((time(0), None),)
        return self.weekly[day.weekday()]

    def intervals_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals (UTC start, UTC end) that end after ``instant``, in order."""
        tz = self.tz
        day = instant.astimezone(tz).date() - timedelta(days=1)  # a period may spill past midnight in UTC
        for offset in range(MAX_DAYS):
            current = day + timedelta(days=offset)
            for start, end in self.periods_of(current):
                begin = _utc(current, start, tz)
                finish = (
                    _utc(current + timedelta(days=1), time(0), tz) if end is None else _utc(current, end, tz)
                )
                if finish > instant and finish > begin:
                    yield begin, finish
        raise NoWorkingTime(f"No working time within {MAX_DAYS} days after {instant.isoformat()}.")


def _utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    naive = datetime.combine(day, at)
    instant = naive.replace(tzinfo=tz).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == naive:
        return instant
    # A local time skipped by a DST change (02:30 on the spring-forward night) does not exist:
    # the period starts (or ends) at the change itself, when the clocks jump. Find that instant
    # between the two readings of the skipped time (at most the gap apart).
    low, high = naive.replace(tzinfo=tz, fold=1).astimezone(UTC), instant
    after = high.astimezone(tz).utcoffset()
    while (high - low) > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("Business-time arithmetic needs aware datetimes.")
    return instant.astimezone(UTC)


def add(schedule: Schedule, start: datetime, seconds: float) -> datetime:
    """The instant reached after ``seconds`` of working time counted from ``start``."""
    start = _aware(start)
    remaining = max(float(seconds), 0.0)
    if schedule.is_continuous:
        return start + timedelta(seconds=remaining)
    for begin, finish in schedule.intervals_from(start):
        begin = max(begin, start)
        available = (finish - begin).total_seconds()
        if remaining <= available:
            return begin + timedelta(seconds=remaining)
        remaining -= available
    raise NoWorkingTime("unreachable")  # pragma: no cover - intervals_from raises first


def between(schedule: Schedule, start: datetime, end: datetime) -> float:
    """Working seconds between ``start`` and ``end`` (0 when ``end`` is not after ``start``)."""
    start, end = _aware(start), _aware(end)
    if end <= start:
        return 0.0
    if schedule.is_continuous:
        return (end - start).total_seconds()
    total = 0.0
    try:
        for begin, finish in schedule.intervals_from(start):
            if begin >= end:
                break
            total += (min(finish, end) - max(begin, start)).total_seconds()
    except NoWorkingTime:
        pass  # nothing more to count
    return total


def is_working(schedule: Schedule, instant: datetime) -> bool:
    instant = _aware(instant)
    for begin, finish in schedule.intervals_from(instant):
        return begin <= instant < finish
    return False  # pragma: no cover
