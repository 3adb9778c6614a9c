"""The policy simulator: replay historical tickets under a candidate policy set and count, per
priority, the breaches it would have had next to the current policies. Read-only.

A policy file (YAML or JSON) is parsed into typed structures before anything runs::

    calendars:                 # optional; existing calendars can be named too
      office-paris:
        time_zone: Europe/Paris
        hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-12:00", "13:00-17:00"]}
        holidays: ["2026-12-25"]
      always: {around_the_clock: true}
    tier_multipliers: {enterprise: 0.5}   # optional; missing tiers keep their current multiplier
    policies:
      - name: Critical
        priority: critical
        response_minutes: 10
        resolution_minutes: 90
        calendar: always         # optional, default: the built-in 24×7 calendar
        ticket_type: incident    # optional
        category: Network        # optional, a category name
        organisation: BigCorp    # optional, an organisation name

Both policy sets are replayed the same way: a clock counts working time from the ticket's
creation to its first response (or resolution) and to its final resolution (or now when still
open), less the pauses of its pause log (pending statuses; resolved-until-reopened for the
resolution clock), and breaches when that exceeds the target.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.utils import timezone

from itsm.models import CustomerTier, Organisation
from sla import business_time
from sla.business_time import Schedule
from sla.models import (
    Calendar,
    Metric,
    PauseReason,
    SLAPause,
    SLAPolicy,
    TierMultiplier,
    best_policy,
)
from tickets.models import Category, Priority, Ticket, TicketStatus, TicketType

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
MAX_MINUTES = 525_600


class PolicyFileError(ValueError):
    """The policy file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class CandidatePolicy:
    name: str
    priority: str
    response_minutes: int
    resolution_minutes: int
    calendar: str
    ticket_type: str = ""
    category_id: int | None = None
    organisation_id: int | None = None


@dataclass(frozen=True)
class PolicySet:
    policies: tuple[CandidatePolicy, ...]
    calendars: dict[str, Schedule]
    multipliers: dict[str, Decimal]

    def best_for(self, ticket: Ticket) -> CandidatePolicy | None:
        return best_policy(self.policies, ticket)


# --- parsing --------------------------------------------------------------------------------------------
def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise PolicyFileError(f"{where}: {message}")


def _minutes(value: Any, where: str) -> int:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_MINUTES,
        where,
        f"must be a whole number of minutes between 1 and {MAX_MINUTES}, not {value!r}",
    )
    return value


def _hours(spec: Any, where: str) -> tuple[tuple[business_time.Period, ...], ...]:
    _require(isinstance(spec, dict), where, 'must map weekdays (mon … sun) to lists of "HH:MM-HH:MM"')
    unknown = set(spec) - set(DAYS)
    _require(
        not unknown,
        where,
        f"unknown weekday(s) {', '.join(sorted(map(str, unknown)))}; use {', '.join(DAYS)}",
    )
    weekly: list[tuple[business_time.Period, ...]] = []
    for day in DAYS:
        spans = spec.get(day, [])
        _require(isinstance(spans, list), f"{where}.{day}", 'must be a list of "HH:MM-HH:MM"')
        periods: list[business_time.Period] = []
        for index, text in enumerate(spans):
            match = SPAN.match(str(text).strip())
            _require(match is not None, f"{where}.{day}[{index}]", f'{text!r} is not "HH:MM-HH:MM"')
            h1, m1, h2, m2 = (int(part) for part in match.groups())
            ok = h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or (h2 == 24 and m2 == 0))
            _require(ok, f"{where}.{day}[{index}]", f"{text!r} is not a valid time span")
            start, end = time(h1, m1), None if h2 == 24 or (h2, m2) == (0, 0) else time(h2, m2)
            _require(end is None or end > start, f"{where}.{day}[{index}]", f"{text!r} ends before it starts")
            periods.append((start, end))
        periods.sort(key=lambda period: period[0])
        for (_s, first_end), (second_start, _e) in zip(periods, periods[1:], strict=False):
            _require(first_end is not None and second_start >= first_end, f"{where}.{day}", "periods overlap")
        weekly.append(tuple(periods))
    return tuple(weekly)


def _calendar(name: str, spec: Any, where: str) -> Schedule:
    _require(isinstance(spec, dict), where, "must be a mapping with time_zone, hours, holidays")
    unknown = set(spec) - {"time_zone", "hours", "holidays", "around_the_clock"}
    _require(not unknown, where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    tz = spec.get("time_zone", "UTC")
    try:
        business_time.zone(str(tz))
    except ValueError as error:
        raise PolicyFileError(f"{where}.time_zone: {error}") from error
    holidays = set()
    for index, value in enumerate(spec.get("holidays", []) or []):
        try:
            holidays.add(value if isinstance(value, date) else date.fromisoformat(str(value)))
        except ValueError as error:
            raise PolicyFileError(
                f"{where}.holidays[{index}]: {value!r} is not a date (YYYY-MM-DD)"
            ) from error
    always = spec.get("around_the_clock", False)
    _require(isinstance(always, bool), f"{where}.around_the_clock", "must be true or false")
    if always:
        return Schedule.around_the_clock(str(tz), frozenset(holidays))
    weekly = _hours(spec.get("hours"), f"{where}.hours")
    _require(any(weekly), f"{where}.hours", "has no working period at all")
    return Schedule(time_zone=str(tz), weekly=weekly, holidays=frozenset(holidays))


def current_schedules() -> dict[str, Schedule]:
    return {calendar.name: calendar.schedule() for calendar in Calendar.objects.with_hours()}


def current_multipliers() -> dict[str, Decimal]:
    values = dict(TierMultiplier.DEFAULTS)
    values.update(dict(TierMultiplier.objects.values_list("tier", "multiplier")))
    return values


def parse_policy_set(data: Any) -> PolicySet:
    _require(isinstance(data, dict), "file", "must be a mapping with a 'policies' list")
    unknown = set(data) - {"calendars", "tier_multipliers", "policies"}
    _require(not unknown, "file", f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    calendars = current_schedules()
    for name, spec in (data.get("calendars") or {}).items():
        calendars[str(name)] = _calendar(str(name), spec, f"calendars.{name}")
    multipliers = current_multipliers()
    raw_multipliers = data.get("tier_multipliers") or {}
    _require(isinstance(raw_multipliers, dict), "tier_multipliers", "must map tiers to numbers")
    for tier, value in raw_multipliers.items():
        _require(
            tier in CustomerTier.values,
            f"tier_multipliers.{tier}",
            f"unknown tier; use {', '.join(CustomerTier.values)}",
        )
        try:
            number = Decimal(str(value))
        except InvalidOperation as error:
            raise PolicyFileError(f"tier_multipliers.{tier}: {value!r} is not a number") from error
        _require(
            Decimal("0.05") <= number <= Decimal("10"),
            f"tier_multipliers.{tier}",
            "must be between 0.05 and 10",
        )
        multipliers[tier] = number
    raw_policies = data.get("policies")
    _require(isinstance(raw_policies, list) and raw_policies, "policies", "must be a non-empty list")
    builtin = Calendar.objects.filter(builtin=True).values_list("name", flat=True).first() or "24×7"
    calendars.setdefault(builtin, Schedule.around_the_clock())
    policies = []
    seen: set[tuple[object, ...]] = set()
    for index, spec in enumerate(raw_policies):
        where = f"policies[{index}]"
        _require(isinstance(spec, dict), where, "must be a mapping")
        allowed = {
            "name",
            "priority",
            "response_minutes",
            "resolution_minutes",
            "calendar",
            "ticket_type",
            "category",
            "organisation",
        }
        unknown = set(spec) - allowed
        _require(not unknown, where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        priority = spec.get("priority")
        _require(
            priority in Priority.values, f"{where}.priority", f"must be one of {', '.join(Priority.values)}"
        )
        response = _minutes(spec.get("response_minutes"), f"{where}.response_minutes")
        resolution = _minutes(spec.get("resolution_minutes"), f"{where}.resolution_minutes")
        _require(
            resolution >= response, f"{where}.resolution_minutes", "cannot be shorter than response_minutes"
        )
        calendar = str(spec.get("calendar", builtin))
        _require(
            calendar in calendars,
            f"{where}.calendar",
            f"no calendar named {calendar!r} (known: {', '.join(sorted(calendars))})",
        )
        ticket_type = spec.get("ticket_type", "") or ""
        _require(
            ticket_type in ("", *TicketType.values),
            f"{where}.ticket_type",
            f"must be one of {', '.join(TicketType.values)}",
        )
        category_id = organisation_id = None
        if spec.get("category"):
            category_id = Category.objects.filter(name=spec["category"]).values_list("pk", flat=True).first()
            _require(category_id is not None, f"{where}.category", f"no category named {spec['category']!r}")
        if spec.get("organisation"):
            organisation_id = (
                Organisation.objects.filter(name=spec["organisation"]).values_list("pk", flat=True).first()
            )
            _require(
                organisation_id is not None,
                f"{where}.organisation",
                f"no organisation named {spec['organisation']!r}",
            )
        key = (priority, ticket_type, category_id, organisation_id)
        _require(key not in seen, where, "matches the same tickets as an earlier policy")
        seen.add(key)
        policies.append(
            CandidatePolicy(
                name=str(spec.get("name") or f"policy {index + 1}"),
                priority=priority,
                response_minutes=response,
                resolution_minutes=resolution,
                calendar=calendar,
                ticket_type=ticket_type,
                category_id=category_id,
                organisation_id=organisation_id,
            )
        )
    return PolicySet(policies=tuple(policies), calendars=calendars, multipliers=multipliers)


def load_policy_file(path: str | Path) -> PolicySet:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyFileError(f"{path}: cannot be read ({error.strerror or error})") from error
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise PolicyFileError(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {error}"
        ) from error
    return parse_policy_set(data)


def current_policy_set() -> PolicySet:
    policies = tuple(
        CandidatePolicy(
            name=policy.name,
            priority=policy.priority,
            response_minutes=policy.response_minutes,
            resolution_minutes=policy.resolution_minutes,
            calendar=policy.calendar.name,
            ticket_type=policy.ticket_type,
            category_id=policy.category_id,
            organisation_id=policy.organisation_id,
        )
        for policy in SLAPolicy.objects.active().select_related("calendar").order_by("pk")
    )
    return PolicySet(policies=policies, calendars=current_schedules(), multipliers=current_multipliers())


# --- replay ---------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    tickets: int = 0
    no_policy: int = 0
    response_breaches: int = 0
    resolution_breaches: int = 0


@dataclass
class PriorityComparison:
    priority: str
    tickets: int = 0
    current: Outcome = field(default_factory=Outcome)
    candidate: Outcome = field(default_factory=Outcome)


def counted_seconds(
    schedule: Schedule, start: datetime, end: datetime, pauses: list[SLAPause], *, metric: str
) -> float:
    """Working seconds a clock ran between ``start`` and ``end``, less its pauses."""
    total = business_time.between(schedule, start, end)
    for pause in pauses:
        if pause.reason == PauseReason.RESOLVED and metric != Metric.RESOLUTION:
            continue
        begin = max(pause.started_at, start)
        finish = min(pause.ended_at or end, end)
        if finish > begin:
            total -= business_time.between(schedule, begin, finish)
    return max(total, 0.0)


def _ends(ticket: Ticket, pauses: list[SLAPause], now: datetime) -> tuple[datetime, datetime]:
    first_resolution = next((p.started_at for p in pauses if p.reason == PauseReason.RESOLVED), None)
    final = None
    if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        final = ticket.resolved_at or ticket.closed_at
    elif ticket.status == TicketStatus.CANCELLED:
        final = ticket.closed_at or ticket.updated_at
    resolution_end = final or now
    candidates = [moment for moment in (ticket.first_response_at, first_resolution, final) if moment]
    response_end = min(candidates) if candidates else now
    return response_end, resolution_end


def _breaches(
    policy_set: PolicySet,
    ticket: Ticket,
    pauses: list[SLAPause],
    ends: tuple[datetime, datetime],
    outcome: Outcome,
) -> None:
    outcome.tickets += 1
    policy = policy_set.best_for(ticket)
    if policy is None:
        outcome.no_policy += 1
        return
    schedule = policy_set.calendars[policy.calendar]
    tier = ticket.organisation.tier if ticket.organisation_id else ""
    factor = policy_set.multipliers.get(tier, Decimal("1"))
    for metric, minutes, end in (
        (Metric.RESPONSE, policy.response_minutes, ends[0]),
        (Metric.RESOLUTION, policy.resolution_minutes, ends[1]),
    ):
        target = float(Decimal(minutes) * 60 * factor)
        if counted_seconds(schedule, ticket.created_at, end, pauses, metric=metric) > target:
            if metric == Metric.RESPONSE:
                outcome.response_breaches += 1
            else:
                outcome.resolution_breaches += 1


def simulate(
    candidate: PolicySet, *, since: date, until: date | None = None, now: datetime | None = None
) -> list[PriorityComparison]:
    """Replay tickets created from ``since`` (to ``until``, inclusive) under both policy sets."""
    now = now or timezone.now()
    current = current_policy_set()
    tickets = Ticket.objects.filter(created_at__date__gte=since).select_related("organisation").order_by("pk")
    if until:
        tickets = tickets.filter(created_at__date__lte=until)
    rows = {priority: PriorityComparison(priority=priority) for priority in Priority.values}
    for ticket in tickets.prefetch_related("sla_pauses").iterator(chunk_size=2000):
        pauses = sorted(ticket.sla_pauses.all(), key=lambda pause: pause.started_at)
        ends = _ends(ticket, pauses, now)
        row = rows[ticket.priority]
        row.tickets += 1
        _breaches(current, ticket, pauses, ends, row.current)
        _breaches(candidate, ticket, pauses, ends, row.candidate)
    return list(rows.values())
