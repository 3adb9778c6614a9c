"""SLA workflows. The ticket signals (``sla.receivers``), the sweep, the API, the admin and the
commands all go through these.

Every function runs inside the caller's transaction (the ticket change that triggered it), so a
rolled-back ticket change leaves no clock behind. Clock rows are locked (``select_for_update``)
before they are rebuilt: the sweep claims the same rows with ``SKIP LOCKED``, so the two never
write the same clock at once and neither waits on the other for long.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from itsm.models import AutomationEvent
from sla.business_time import Schedule
from sla.models import (
    Calendar,
    ClockSource,
    ClockState,
    EscalationStep,
    Metric,
    PauseReason,
    SLAPause,
    SLAPolicy,
    TicketSLA,
    TierMultiplier,
)
from sla.sweep import record_breaches
from tickets.models import Ticket, TicketStatus
from tickets.models.ticket import DONE_STATUSES, PAUSED_STATUSES

ACTOR = "system:sla"


def schedule_of(calendar: Calendar | None) -> Schedule:
    return Schedule.around_the_clock() if calendar is None else calendar.schedule()


def multiplier_for(ticket: Ticket) -> Decimal:
    tier = ticket.organisation.tier if ticket.organisation_id else None
    return TierMultiplier.for_tier(tier)


def _pauses(ticket: Ticket) -> list[SLAPause]:
    return list(SLAPause.objects.filter(ticket=ticket).order_by("started_at", "pk"))


def _locked_clocks(ticket: Ticket) -> list[TicketSLA]:
    # A cancelled clock (its ticket merged into another) is final: nothing recomputes it.
    return list(
        TicketSLA.objects.select_for_update(of=("self",))
        .filter(ticket=ticket)
        .exclude(state=ClockState.CANCELLED)
        .select_related("calendar")
        .prefetch_related("calendar__periods", "calendar__holidays")
        .order_by("metric")
    )


CLOCK_FIELDS = [
    "policy",
    "calendar",
    "target_seconds",
    "warning_threshold_percent",
    "started_at",
    "due_at",
    "warn_at",
    "paused_seconds",
    "paused_business_seconds",
    "paused_since",
    "stopped_at",
    "breached_at",
    "state",
    "next_escalation_at",
    "escalation_policy",
    "updated_at",
]


def _snapshot(clock: TicketSLA) -> dict[str, object]:
    return {
        "metric": clock.metric,
        "state": clock.state,
        "due_at": clock.due_at.isoformat() if clock.due_at else None,
        "target_seconds": clock.target_seconds,
        "policy": clock.policy.name if clock.policy_id and clock.policy else None,
    }


def _rebuild(clocks: Iterable[TicketSLA], ticket: Ticket, *, now: datetime) -> list[TicketSLA]:
    """Recompute local clocks from the pause log, settle remote ones, save; returns the clocks
    that became breached by stopping late (their breach is recorded, quietly, by the caller)."""
    pauses = _pauses(ticket)
    late = []
    for clock in clocks:
        was_breached = clock.breached_at is not None
        if clock.source == ClockSource.LOCAL and clock.due_at is not None:
            clock.recompute(now=now, schedule=schedule_of(clock.calendar), pauses=pauses)
        elif clock.due_at is not None:
            clock.settle(now)
        clock.save(update_fields=CLOCK_FIELDS)
        if clock.breached_at is not None and not was_breached and clock.stopped_at is not None:
            late.append(clock)
    return late


def _record_late_breaches(clocks: list[TicketSLA], *, now: datetime) -> None:
    if clocks:
        record_breaches(clocks, now=now, trace_id=str(uuid.uuid4()), notify_people=False)


# --- clocks follow the ticket ---------------------------------------------------------------------
@transaction.atomic
def do_start_clocks(ticket: Ticket, *, now: datetime | None = None) -> list[TicketSLA]:
    """Create the response and resolution clocks of a new ticket under its best policy.

    Does nothing (the API then says ``unknown``) when no active policy matches; idempotent.
    """
    now = now or timezone.now()
    if ticket.is_paused and not SLAPause.objects.filter(ticket=ticket, ended_at__isnull=True).exists():
        # Created waiting (a catalog request pending approval): the clocks start paused, and
        # the move out of that status (do_follow_status) ends the pause.
        SLAPause.objects.create(ticket=ticket, reason=ticket.status, started_at=ticket.created_at)
    policy = SLAPolicy.objects.best_for(ticket)
    if policy is None:
        return []
    calendar = Calendar.objects.with_hours().get(pk=policy.calendar_id)
    schedule = calendar.schedule()
    multiplier = multiplier_for(ticket)
    pauses = _pauses(ticket)
    created = []
    for metric in Metric.values:
        clock = TicketSLA(
            ticket=ticket,
            metric=metric,
            policy=policy,
            calendar=calendar,
            target_seconds=policy.target_seconds(metric, multiplier),
            warning_threshold_percent=policy.warning_threshold_percent,
            started_at=ticket.created_at,
            created_at=now,
        )
        if metric == Metric.RESPONSE and ticket.first_response_at:
            clock.stopped_at = ticket.first_response_at
        clock.recompute(now=now, schedule=schedule, pauses=pauses)
        created.append(clock)
    # A re-sent ticket_created (a retried import, say) changes nothing: the pair is unique.
    TicketSLA.objects.bulk_create(created, ignore_conflicts=True)
    return created


@transaction.atomic
def do_follow_status(ticket: Ticket, *, previous: str, status: str, now: datetime | None = None) -> None:
    """Pause, resume, stop or restart the clocks for a status move, keeping the pause log."""
    now = now or timezone.now()
    open_pause = SLAPause.objects.select_for_update().filter(ticket=ticket, ended_at__isnull=True).first()
    if open_pause is not None:
        open_pause.ended_at = now
        open_pause.save(update_fields=["ended_at"])
    if status in PAUSED_STATUSES:
        SLAPause.objects.create(ticket=ticket, reason=status, started_at=now)
    elif status == TicketStatus.RESOLVED:
        SLAPause.objects.create(ticket=ticket, reason=PauseReason.RESOLVED, started_at=now)

    clocks = _locked_clocks(ticket)
    for clock in clocks:
        if status in DONE_STATUSES:
            # Resolving answers the requester too: a response clock still running stops here.
            if clock.stopped_at is None:
                clock.stopped_at = now
        elif previous == TicketStatus.RESOLVED and clock.metric == Metric.RESOLUTION:
            clock.stopped_at = None  # reopened: the resolved gap is a pause, the clock runs on
    _record_late_breaches(_rebuild(clocks, ticket, now=now), now=now)


@transaction.atomic
def do_cancel_clocks(ticket: Ticket, *, reason: str, now: datetime | None = None) -> list[TicketSLA]:
    """Stop the ticket's clocks as ``cancelled``: neither met nor breached (a ticket merged into
    another; the target's clocks carry on). Idempotent: cancelled clocks are left alone."""
    now = now or timezone.now()
    clocks = _locked_clocks(ticket)
    for clock in clocks:
        before = _snapshot(clock)
        clock.state = ClockState.CANCELLED
        clock.stopped_at = clock.stopped_at or now
        clock.breached_at = None
        clock.next_escalation_at = None
        clock.updated_at = now
        clock.save(update_fields=["state", "stopped_at", "breached_at", "next_escalation_at", "updated_at"])
        AutomationEvent.objects.record(
            actor="system:sla",
            action="sla.clock_cancelled",
            subject=ticket,
            before=before,
            after=_snapshot(clock),
            reason=reason,
        )
    return clocks


@transaction.atomic
def do_record_first_response(ticket: Ticket, *, now: datetime | None = None) -> TicketSLA | None:
    """Stop the response clock at ``ticket.first_response_at`` (once)."""
    if ticket.first_response_at is None:
        return None
    now = now or timezone.now()
    clocks = [clock for clock in _locked_clocks(ticket) if clock.metric == Metric.RESPONSE]
    if not clocks or clocks[0].stopped_at is not None:
        return None
    clock = clocks[0]
    clock.stopped_at = ticket.first_response_at
    _record_late_breaches(_rebuild([clock], ticket, now=now), now=now)
    return clock


@transaction.atomic
def do_retarget_clocks(ticket: Ticket, *, reason: str, now: datetime | None = None) -> list[TicketSLA]:
    """Re-target both clocks from the ticket's start under the policy that matches it now.

    A priority raised by the escalation chain comes through here too (via the signal).
    Remote (Jira) clocks keep the due times their source gave them.
    """
    now = now or timezone.now()
    policy = SLAPolicy.objects.best_for(ticket)
    clocks = _locked_clocks(ticket)
    if policy is None:
        return clocks  # nothing applies any more: the clocks keep their last targets
    if not clocks:
        return do_start_clocks(ticket, now=now)
    calendar = Calendar.objects.with_hours().get(pk=policy.calendar_id)
    multiplier = multiplier_for(ticket)
    events = []
    trace_id = uuid.uuid4()
    local = [clock for clock in clocks if clock.source == ClockSource.LOCAL]
    befores = {clock.pk: _snapshot(clock) for clock in local}
    for clock in local:
        clock.policy, clock.calendar = policy, calendar
        clock.target_seconds = policy.target_seconds(clock.metric, multiplier)
        clock.warning_threshold_percent = policy.warning_threshold_percent
    late = _rebuild(local, ticket, now=now)
    for clock in local:
        before, after = befores[clock.pk], _snapshot(clock)
        if before != after:
            events.append(
                AutomationEvent.entry(
                    actor=ACTOR,
                    action="sla.retargeted",
                    subject=ticket,
                    before=before,
                    after=after,
                    reason=reason,
                    trace_id=trace_id,
                    at=now,
                )
            )
    AutomationEvent.objects.bulk_create(events)
    _record_late_breaches(late, now=now)
    return clocks


# --- remote clocks (Jira) ------------------------------------------------------------------------
@transaction.atomic
def apply_remote_clock(
    ticket: Ticket,
    *,
    metric: str,
    due_at: datetime,
    started_at: datetime | None = None,
    paused: bool = False,
    stopped_at: datetime | None = None,
    breached: bool | None = None,
    paused_seconds: int = 0,
    source: str = ClockSource.JIRA,
    warning_threshold_percent: int = 15,
    now: datetime | None = None,
) -> TicketSLA:
    """Make the ``metric`` clock of ``ticket`` follow a remote system's clock (see ``sla.sync``).

    The remote due time is taken as given; at-risk and breach alerts still come from the sweep.
    """
    if metric not in Metric.values:
        raise ValueError(f"Unknown metric {metric!r}; expected one of {', '.join(Metric.values)}.")
    if due_at.tzinfo is None or (started_at is not None and started_at.tzinfo is None):
        raise ValueError("Remote clock times must be aware datetimes.")
    now = now or timezone.now()
    started_at = started_at or ticket.created_at
    clock = TicketSLA.objects.select_for_update(of=("self",)).filter(ticket=ticket, metric=metric).first()
    before = _snapshot(clock) if clock else {}
    if clock is None:
        clock = TicketSLA(ticket=ticket, metric=metric, created_at=now)
    span = max((due_at - started_at).total_seconds(), 1)
    clock.source = source
    clock.started_at = started_at
    clock.due_at = due_at
    clock.target_seconds = int(span)
    clock.warning_threshold_percent = warning_threshold_percent
    clock.warn_at = due_at - (due_at - started_at) * (warning_threshold_percent / 100)
    clock.paused_seconds = max(int(paused_seconds), 0)
    clock.paused_since = (clock.paused_since or now) if paused else None
    clock.stopped_at = stopped_at
    if breached is True and clock.breached_at is None:
        clock.breached_at = min(due_at, now)
    elif breached is False:
        clock.breached_at = None
    clock.settle(now)
    clock.save()
    AutomationEvent.objects.record(
        actor=f"system:{source}",
        action="sla.synced",
        subject=ticket,
        before=before,
        after=_snapshot(clock),
        reason=f"{metric} clock taken from {source}",
    )
    return clock


# --- policies ------------------------------------------------------------------------------------
@transaction.atomic
def do_save_policy(
    *, values: dict[str, object], steps: list[dict[str, object]] | None, instance: SLAPolicy | None = None
) -> SLAPolicy:
    """Create or update a policy and (when given) replace its escalation chain. Input is checked
    by the caller (``SLAPolicySerializer`` / the admin form), which run the model's clean()."""
    policy = instance or SLAPolicy()
    for name, value in values.items():
        setattr(policy, name, value)
    policy.save()
    if steps is not None:
        policy.escalation_steps.all().delete()
        EscalationStep.objects.bulk_create([EscalationStep(policy=policy, **step) for step in steps])
    return policy


def do_retarget_policy_clocks(policies: Iterable[SLAPolicy], *, reason: str, limit: int = 10_000) -> int:
    """Re-target the running clocks of tickets under these policies (after an edit, say)."""
    ticket_ids = list(
        TicketSLA.objects.filter(policy__in=list(policies), stopped_at__isnull=True, source=ClockSource.LOCAL)
        .values_list("ticket_id", flat=True)
        .distinct()[:limit]
    )
    for ticket in Ticket.objects.filter(pk__in=ticket_ids).select_related("organisation"):
        do_retarget_clocks(ticket, reason=reason)
    return len(ticket_ids)
