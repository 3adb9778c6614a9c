"""Business-time arithmetic: nights, weekends, holidays, time zones, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from sla import business_time
from sla.business_time import NoWorkingTime, Schedule

PARIS = ZoneInfo("Europe/Paris")
NINE_TO_FIVE = ((time(9), time(17)),)


def office(tz: str = "Europe/Paris", holidays: frozenset[date] = frozenset()) -> Schedule:
    """Monday to Friday, 09:00–17:00 local time."""
    return Schedule(time_zone=tz, weekly=(NINE_TO_FIVE,) * 5 + ((), ()), holidays=holidays)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_it_adds_plain_seconds_on_a_continuous_calendar():
    start = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert business_time.add(Schedule.around_the_clock(), start, 7200) == datetime(
        2026, 3, 3, 1, 0, tzinfo=UTC
    )
    assert business_time.between(Schedule.around_the_clock(), start, start + timedelta(hours=5)) == 5 * 3600


def test_it_carries_work_over_the_night():
    # Monday 16:00 + 2 working hours = Tuesday 10:00 (the night does not count).
    due = business_time.add(office(), paris(2026, 3, 2, 16, 0), 2 * 3600)
    assert due == paris(2026, 3, 3, 10, 0)
    assert business_time.between(office(), paris(2026, 3, 2, 16, 0), due) == 2 * 3600


def test_it_starts_counting_at_opening_time_when_created_at_night():
    due = business_time.add(office(), paris(2026, 3, 3, 2, 30), 30 * 60)
    assert due == paris(2026, 3, 3, 9, 30)


def test_it_skips_the_weekend():
    # Friday 16:30 + 1 hour = Monday 09:30.
    due = business_time.add(office(), paris(2026, 3, 6, 16, 30), 3600)
    assert due == paris(2026, 3, 9, 9, 30)
    assert business_time.between(office(), paris(2026, 3, 6, 12, 0), paris(2026, 3, 9, 12, 0)) == 8 * 3600


def test_it_skips_holidays():
    holidays = frozenset({date(2026, 12, 25)})
    # Thursday 24 December 16:00 + 2 hours: one hour on the 24th, Christmas skipped, one on the 26th?
    # The 26th is a Saturday: the second hour lands on Monday 28th at 10:00.
    due = business_time.add(office(holidays=holidays), paris(2026, 12, 24, 16, 0), 2 * 3600)
    assert due == paris(2026, 12, 28, 10, 0)


def test_it_respects_the_time_zone():
    # 08:00 UTC in winter is 09:00 in Paris: the office has just opened.
    due = business_time.add(office(), datetime(2026, 1, 5, 8, 0, tzinfo=UTC), 3600)
    assert due == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    new_york = office("America/New_York")
    assert business_time.add(new_york, datetime(2026, 1, 5, 14, 0, tzinfo=UTC), 3600) == datetime(
        2026, 1, 5, 15, 0, tzinfo=UTC
    )


def test_it_keeps_local_office_hours_across_the_spring_dst_change():
    # Paris moves from UTC+1 to UTC+2 on Sunday 29 March 2026. Friday 16:00 (15:00 UTC) + 2 hours
    # = Monday 10:00 local, which is 08:00 UTC (not 09:00 UTC).
    due = business_time.add(office(), paris(2026, 3, 27, 16, 0), 2 * 3600)
    assert due == paris(2026, 3, 30, 10, 0)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_it_counts_a_23_hour_day_on_a_24x7_local_calendar_with_a_holiday():
    # Around the clock in Paris, with a holiday: the day of the spring change has 23 hours.
    schedule = Schedule.around_the_clock("Europe/Paris", frozenset({date(2026, 3, 30)}))
    start, end = paris(2026, 3, 29, 0, 0), paris(2026, 3, 31, 0, 0)
    assert business_time.between(schedule, start, end) == 23 * 3600


def test_it_counts_a_25_hour_day_in_autumn():
    # Paris falls back on Sunday 25 October 2026: that day has 25 hours.
    schedule = Schedule.around_the_clock("Europe/Paris", frozenset({date(2026, 10, 26)}))
    assert business_time.between(schedule, paris(2026, 10, 25, 0, 0), paris(2026, 10, 27, 0, 0)) == 25 * 3600


def test_it_handles_a_local_time_skipped_by_dst():
    # A night shift 02:30–04:00 on the spring-forward night only has 1 real hour (03:00–04:00 CEST).
    weekly = tuple(((time(2, 30), time(4, 0)),) if day == 6 else () for day in range(7))
    schedule = Schedule(time_zone="Europe/Paris", weekly=weekly)
    start = paris(2026, 3, 29, 0, 0)
    assert business_time.between(schedule, start, paris(2026, 3, 29, 12, 0)) == 3600
    assert business_time.add(schedule, start, 1800) == paris(2026, 3, 29, 3, 30)


def test_it_supports_split_days_and_midnight_ends():
    weekly = (((time(9), time(12)), (time(13), time(17))),) * 5 + (((time(22), None),), ())
    schedule = Schedule(time_zone="UTC", weekly=weekly)
    monday_eleven = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert business_time.add(schedule, monday_eleven, 2 * 3600) == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    saturday = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    assert business_time.add(schedule, saturday, 3600) == datetime(2026, 3, 7, 23, 0, tzinfo=UTC)


def test_between_is_zero_for_an_empty_or_reversed_span():
    start = paris(2026, 3, 2, 10, 0)
    assert business_time.between(office(), start, start) == 0
    assert business_time.between(office(), start, start - timedelta(hours=1)) == 0
    assert business_time.between(office(), paris(2026, 3, 7, 10, 0), paris(2026, 3, 8, 10, 0)) == 0


def test_it_refuses_naive_datetimes_and_empty_calendars():
    with pytest.raises(ValueError, match="aware"):
        business_time.add(office(), datetime(2026, 3, 2, 9, 0), 60)  # noqa: DTZ001
    with pytest.raises(NoWorkingTime):
        business_time.add(Schedule(time_zone="UTC"), datetime(2026, 3, 2, 9, 0, tzinfo=UTC), 60)
    with pytest.raises(ValueError, match="time zone"):
        business_time.zone("Mars/Olympus")


def test_it_tells_whether_an_instant_is_working_time():
    assert business_time.is_working(office(), paris(2026, 3, 2, 10, 0))
    assert not business_time.is_working(office(), paris(2026, 3, 2, 18, 0))
    assert not business_time.is_working(office(), paris(2026, 3, 7, 10, 0))


def test_work_ending_exactly_at_closing_time_ends_that_day():
    # Monday 16:00 + 1 working hour = Monday 17:00, not Tuesday 09:00.
    assert business_time.add(office(), paris(2026, 3, 2, 16, 0), 3600) == paris(2026, 3, 2, 17, 0)
    assert business_time.add(office(), paris(2026, 3, 2, 9, 0), 8 * 3600) == paris(2026, 3, 2, 17, 0)


def test_an_instant_exactly_at_opening_time_is_working_and_closing_time_is_not():
    assert business_time.is_working(office(), paris(2026, 3, 2, 9, 0))
    assert not business_time.is_working(office(), paris(2026, 3, 2, 17, 0))
    assert business_time.is_working(office(), paris(2026, 3, 2, 16, 59, 59))


def test_a_reversed_span_inside_one_working_interval_counts_zero():
    assert business_time.between(office(), paris(2026, 3, 2, 11, 0), paris(2026, 3, 2, 10, 0)) == 0
    assert business_time.between(office(), paris(2026, 3, 2, 10, 0), paris(2026, 3, 2, 11, 0)) == 3600


def test_adding_zero_or_negative_seconds_adds_nothing():
    monday_ten = paris(2026, 3, 2, 10, 0)
    assert business_time.add(office(), monday_ten, 0) == monday_ten
    assert business_time.add(office(), monday_ten, -3600) == monday_ten
    # Outside working time (closing time included), nothing to add still lands on the next opening.
    assert business_time.add(office(), paris(2026, 3, 2, 20, 0), 0) == paris(2026, 3, 3, 9, 0)
    assert business_time.add(office(), paris(2026, 3, 2, 17, 0), 0) == paris(2026, 3, 3, 9, 0)
    start = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert business_time.add(Schedule.around_the_clock(), start, -60) == start
    assert business_time.add(Schedule.around_the_clock(), start, 0) == start


def test_a_period_that_does_not_exist_on_the_spring_forward_night_adds_nothing():
    # 02:15–02:45 on Sunday 29 March 2026 in Paris is skipped (the clocks jump from 02:00 to 03:00):
    # that Sunday has no working time; the next is Sunday 5 April, 02:15 CEST (00:15 UTC).
    weekly = tuple(((time(2, 15), time(2, 45)),) if day == 6 else () for day in range(7))
    schedule = Schedule(time_zone="Europe/Paris", weekly=weekly)
    sunday = paris(2026, 3, 29, 0, 0)
    assert business_time.between(schedule, sunday, paris(2026, 3, 29, 23, 0)) == 0
    assert business_time.add(schedule, sunday, 0) == datetime(2026, 4, 5, 0, 15, tzinfo=UTC)
    assert business_time.add(schedule, sunday, 60) == datetime(2026, 4, 5, 0, 16, tzinfo=UTC)
    assert not business_time.is_working(schedule, datetime(2026, 3, 29, 1, 0, tzinfo=UTC))


def test_a_period_starting_at_a_skipped_local_time_starts_exactly_at_the_change():
    # 02:00:01 does not exist on 29 March 2026 in Paris: the period starts when the clocks jump,
    # 03:00 CEST (01:00:00 UTC), to the second.
    weekly = tuple(((time(2, 0, 1), time(4, 0)),) if day == 6 else () for day in range(7))
    schedule = Schedule(time_zone="Europe/Paris", weekly=weekly)
    sunday = paris(2026, 3, 29, 0, 0)
    assert business_time.between(schedule, sunday, paris(2026, 3, 29, 12, 0)) == 3600
    assert business_time.add(schedule, sunday, 0) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_a_calendar_with_three_years_of_holidays_has_no_working_time():
    # The search for working time looks 3 × 366 days ahead, from the day before the start.
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    first = date(2026, 3, 1)
    last_searched = first + timedelta(days=3 * 366 - 1)

    def holidays_until(day: date) -> frozenset[date]:
        return frozenset(first + timedelta(days=n) for n in range((day - first).days + 1))

    open_on_the_last_day = Schedule.around_the_clock("UTC", holidays_until(last_searched - timedelta(days=1)))
    assert business_time.add(open_on_the_last_day, start, 60) == datetime.combine(
        last_searched, time(0, 1), tzinfo=UTC
    )
    never_open = Schedule.around_the_clock("UTC", holidays_until(last_searched))
    with pytest.raises(NoWorkingTime):
        business_time.add(never_open, start, 60)
    assert business_time.between(never_open, start, start + timedelta(days=3000)) == 0


def test_a_schedule_is_immutable():
    schedule = office()
    with pytest.raises(AttributeError):
        schedule.time_zone = "UTC"
    assert hash(schedule) == hash(office())
