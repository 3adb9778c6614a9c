"""The SLA sweep: clocks crossing into at-risk or breach, the escalation chain, the advisory risk.

How it stays correct with several workers, retries and crashes:

- Clocks are claimed by a conditional ``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)
  … RETURNING`` whose ``SELECT`` is compiled from the QuerySets the dry run lists
  (``crossing_into_risk``, ``crossing_into_breach``): two sweeps at once split the rows between
  them, and a row whose state already moved no longer matches the ``WHERE``.
- Each event is inserted with ``ON CONFLICT DO NOTHING`` against the unique (clock, kind,
  level, cause): only the sweep whose insert returned a row notifies, writes the
  AutomationEvent and sends the signal. Running twice acts once.
- Work is done in batches, one transaction each; a crash loses at most the open batch, whose
  claims roll back with it, and the next run picks those clocks up again (resumable).
- Escalations lock the clock *and* its ticket with ``SKIP LOCKED``: a ticket being edited by a
  person is left for the next minute instead of waiting (and never deadlocks with the edit).

A dry run reads the same QuerySets with plain SELECTs and changes nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg.types.json import Jsonb

from itsm.models import AutomationEvent, User
from itsm.notify import notify
from sla import signals
from sla.models import (
    ClockState,
    EscalationStep,
    SLAEvent,
    SLAEventKind,
    StepAction,
    StepMetric,
    TicketSLA,
    TicketSLAQuerySet,
)
from sla.risk import count_due_evaluations, evaluate_due_clocks
from tickets.actions import do_assign_ticket, do_change_priority
from tickets.models import Priority

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tickets.models import Ticket

logger = logging.getLogger(__name__)

ACTOR = "system:sla"
RAISE = {Priority.LOW: Priority.MEDIUM, Priority.MEDIUM: Priority.HIGH, Priority.HIGH: Priority.CRITICAL}
CLOCK_TABLE = TicketSLA._meta.db_table
EVENT_TABLE = SLAEvent._meta.db_table
STEP_TABLE = EscalationStep._meta.db_table


@dataclass
class SweepAction:
    action: str  # at_risk | breach | escalate
    ticket_id: int
    ticket_number: str
    metric: str
    clock_id: int
    due_at: str | None
    level: int
    step: str


@dataclass
class SweepReport:
    dry_run: bool
    now: str
    trace_id: str
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0
    risk_evaluations: int = 0
    duration_ms: float = 0.0
    actions: list[SweepAction] = field(default_factory=list)
    actions_truncated: bool = False

    def add(self, action: SweepAction) -> None:
        if len(self.actions) < settings.SLA_REPORT_MAX_ACTIONS:
            self.actions.append(action)
        else:
            self.actions_truncated = True

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_sweep(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int | None = None, risk: bool = True
) -> SweepReport:
    started = time.perf_counter()
    now = now or timezone.now()
    batch_size = batch_size or settings.SLA_SWEEP_BATCH_SIZE
    report = SweepReport(dry_run=dry_run, now=now.isoformat(), trace_id=str(uuid.uuid4()))
    if dry_run:
        _plan(report, now=now)
    else:
        _warnings(report, now=now, batch_size=batch_size)
        _breaches(report, now=now, batch_size=batch_size)
        _escalations(report, now=now, batch_size=batch_size)
    if risk and settings.SLA_RISK_BATCH > 0:
        if dry_run:
            report.risk_evaluations = count_due_evaluations(now=now, limit=settings.SLA_RISK_BATCH)
        else:
            report.risk_evaluations = evaluate_due_clocks(now=now, limit=settings.SLA_RISK_BATCH)
    report.duration_ms = round((time.perf_counter() - started) * 1000, 1)
    return report


# --- claims ----------------------------------------------------------------------------------------
# What each pass takes, in the order it takes it. The dry run lists these QuerySets and the live
# sweep claims from their compiled SQL (below): the two read one definition and cannot drift.
def crossing_into_risk(now: datetime) -> TicketSLAQuerySet:
    return TicketSLA.objects.crossing_into_risk(now).order_by("warn_at", "pk")


def crossing_into_breach(now: datetime) -> TicketSLAQuerySet:
    return TicketSLA.objects.crossing_into_breach(now).order_by("due_at", "pk")


def due_for_escalation(now: datetime) -> TicketSLAQuerySet:
    return TicketSLA.objects.due_for_escalation(now).order_by("next_escalation_at", "pk")


def claim_sql(candidates: TicketSLAQuerySet, *, limit: int) -> tuple[str, tuple[object, ...]]:
    """The ``SELECT … FOR UPDATE SKIP LOCKED`` of the first ``limit`` clocks of ``candidates``
    (inside a transaction): two sweeps at once split the rows between them."""
    due = candidates.values("pk").select_for_update(skip_locked=True)[:limit]
    sql, params = due.query.sql_with_params()
    return sql, tuple(params)


def _claim(candidates: TicketSLAQuerySet, *, limit: int, assignments: str, params: list[object]) -> list[int]:
    """Move the claimed clocks with one ``UPDATE … FROM (the claim) … RETURNING``.

    The claim locks the rows it returns and PostgreSQL re-checks their ``WHERE`` once locked,
    so a clock whose state moved meanwhile (a ticket answered, another sweep) is left out.
    """
    due_sql, due_params = claim_sql(candidates, limit=limit)
    sql = (
        f"WITH due(id) AS ({due_sql}) "  # noqa: S608 - SQL compiled by the ORM, table names from the models
        f"UPDATE {CLOCK_TABLE} AS clock SET {assignments} FROM due WHERE clock.id = due.id RETURNING clock.id"
    )
    return _returning(sql, [*due_params, *params])


def _returning(sql: str, params: list[object] | dict[str, object]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _claim_warnings(now: datetime, *, limit: int) -> list[int]:
    return _claim(
        crossing_into_risk(now),
        limit=limit,
        assignments="state = %s, updated_at = %s",
        params=[ClockState.AT_RISK, now],
    )


# The first escalation step is scheduled in the same statement: breach time plus the
# ``after_minutes`` of the next step of the chain that applies to this clock's metric.
BREACH_ASSIGNMENTS = f"""
    state = %s,
    breached_at = clock.due_at,
    updated_at = %s,
    escalation_policy_id = COALESCE(clock.escalation_policy_id, clock.policy_id),
    next_escalation_at = clock.due_at + make_interval(mins => (
        SELECT step.after_minutes FROM {STEP_TABLE} AS step
        WHERE step.policy_id = COALESCE(clock.escalation_policy_id, clock.policy_id)
          AND step.metric IN (%s, clock.metric)
        ORDER BY step.position OFFSET clock.escalation_level LIMIT 1
    ))
"""  # noqa: S608 - table names come from the models


def _claim_breaches(now: datetime, *, limit: int) -> list[int]:
    return _claim(
        crossing_into_breach(now),
        limit=limit,
        assignments=BREACH_ASSIGNMENTS,
        params=[ClockState.BREACHED, now, StepMetric.ANY],
    )


# Warnings and breaches: one event per clock (level 0, no cause), exactly once.
INSERT_EVENTS = f"""
INSERT INTO {EVENT_TABLE} (clock_id, ticket_id, kind, level, cause, detail, trace_id, created_at)
SELECT clock.id, clock.ticket_id, %(kind)s, 0, '',
       jsonb_build_object('metric', clock.metric, 'due_at', clock.due_at, 'state', clock.state),
       %(trace_id)s, %(now)s
FROM {CLOCK_TABLE} AS clock WHERE clock.id = ANY(%(ids)s)
ON CONFLICT (clock_id, kind, level, cause) DO NOTHING
RETURNING clock_id
"""  # noqa: S608


def _insert_events(ids: list[int], *, kind: str, now: datetime, trace_id: str) -> list[int]:
    if not ids:
        return []
    return _returning(INSERT_EVENTS, {"ids": ids, "kind": kind, "trace_id": trace_id, "now": now})


def _load(ids: Iterable[int]) -> list[TicketSLA]:
    return list(
        TicketSLA.objects.filter(pk__in=list(ids))
        .select_related("ticket", "ticket__assignee", "ticket__team__lead", "policy")
        .order_by("due_at", "pk")
    )


def _warnings(report: SweepReport, *, now: datetime, batch_size: int) -> None:
    while True:
        with transaction.atomic():
            claimed = _claim_warnings(now, limit=batch_size)
            fresh = _insert_events(claimed, kind=SLAEventKind.WARNING, now=now, trace_id=report.trace_id)
            clocks = _load(fresh)
            _announce(clocks, kind=SLAEventKind.WARNING, now=now, trace_id=report.trace_id)
        report.warnings += len(clocks)
        for clock in clocks:
            report.add(_action("at_risk", clock))
        if len(claimed) < batch_size:
            return


def _breaches(report: SweepReport, *, now: datetime, batch_size: int) -> None:
    while True:
        with transaction.atomic():
            claimed = _claim_breaches(now, limit=batch_size)
            clocks = record_breaches(claimed, now=now, trace_id=report.trace_id)
        report.breaches += len(clocks)
        for clock in clocks:
            report.add(_action("breach", clock))
        if len(claimed) < batch_size:
            return


def record_breaches(
    clocks_or_ids: Iterable[TicketSLA] | Iterable[int],
    *,
    now: datetime,
    trace_id: str,
    notify_people: bool = True,
) -> list[TicketSLA]:
    """Record the breach event of clocks already marked breached (once), then announce it.

    ``notify_people=False`` is for clocks found late when they stop (the ticket was answered or
    resolved after its due time, between two sweeps): the breach is recorded and signalled, but
    nobody is paged about a ticket that is already handled.
    """
    ids = [item.pk if isinstance(item, TicketSLA) else item for item in clocks_or_ids]
    fresh = _insert_events(ids, kind=SLAEventKind.BREACH, now=now, trace_id=trace_id)
    clocks = _load(fresh)
    _announce(clocks, kind=SLAEventKind.BREACH, now=now, trace_id=trace_id, notify_people=notify_people)
    return clocks


# --- announcing ---------------------------------------------------------------------------------------
def _ticket_url(ticket: Ticket) -> str:
    try:
        return reverse("tickets:ticket-detail", args=[ticket.pk])
    except NoReverseMatch:  # the ticket pages are another app's: fall back on the SLA page
        return reverse("sla:ticket-panel", args=[ticket.pk])


def _people_for(ticket: Ticket, *, kind: str) -> list[User]:
    """Warnings go to the assignee; breaches to the assignee and the team lead. A ticket nobody
    holds goes to its team lead, else to the team's members."""
    people: list[User] = []
    if ticket.assignee_id:
        people.append(ticket.assignee)
    lead = ticket.team.lead if ticket.team_id and ticket.team.lead_id else None
    if lead is not None and (kind == SLAEventKind.BREACH or not people):
        people.append(lead)
    if not people and ticket.team_id:
        people.extend(ticket.team.members.active())
    return people


def _announce(
    clocks: list[TicketSLA], *, kind: str, now: datetime, trace_id: str, notify_people: bool = True
) -> None:
    if not clocks:
        return
    before_state = {SLAEventKind.WARNING: "on_track", SLAEventKind.BREACH: "running"}[kind]
    after_state = {SLAEventKind.WARNING: "at_risk", SLAEventKind.BREACH: "breached"}[kind]
    action = {SLAEventKind.WARNING: "sla.at_risk", SLAEventKind.BREACH: "sla.breached"}[kind]
    AutomationEvent.objects.bulk_create(
        [
            AutomationEvent.entry(
                actor=ACTOR,
                action=action,
                subject=("ticket", clock.ticket_id),
                before={"metric": clock.metric, "state": before_state},
                after={"metric": clock.metric, "state": after_state, "due_at": clock.due_at.isoformat()},
                reason=_reason(clock, kind),
                trace_id=trace_id,
                at=now,
            )
            for clock in clocks
        ]
    )
    notifications = []
    for clock in clocks:
        ticket = clock.ticket
        if notify_people:
            recipients = _people_for(ticket, kind=kind)
            sent = notify(
                recipients,
                verb=action,
                title=_reason(clock, kind),
                body=_("Due %(due)s.")
                % {"due": timezone.localtime(clock.due_at).strftime("%Y-%m-%d %H:%M %Z")},
                url=_ticket_url(ticket),
                subject_type="ticket",
                subject_id=ticket.pk,
                dedupe_key=f"sla:{clock.pk}:{kind}",
                email=settings.SLA_NOTIFY_EMAIL,
            )
            if sent:
                notifications.append(
                    SLAEvent(
                        clock=clock,
                        ticket_id=ticket.pk,
                        kind=SLAEventKind.NOTIFICATION,
                        level=0,
                        cause=kind,
                        detail={"recipients": [n.recipient.email for n in sent]},
                        trace_id=trace_id,
                        created_at=now,
                    )
                )
        signal = signals.sla_at_risk if kind == SLAEventKind.WARNING else signals.sla_breached
        signal.send(
            sender=TicketSLA,
            ticket=ticket,
            clock=clock,
            metric=clock.metric,
            due_at=clock.due_at,
            trace_id=trace_id,
        )
    SLAEvent.objects.bulk_create(notifications, ignore_conflicts=True)


def _reason(clock: TicketSLA, kind: str) -> str:
    label = _("first response") if clock.metric == "response" else _("resolution")
    if kind == SLAEventKind.WARNING:
        return _("%(number)s: the %(metric)s target is at risk") % {
            "number": clock.ticket.number,
            "metric": label,
        }
    return _("%(number)s: the %(metric)s target is breached") % {
        "number": clock.ticket.number,
        "metric": label,
    }


def _action(action: str, clock: TicketSLA, *, level: int = 0, step: str = "") -> SweepAction:
    return SweepAction(
        action=action,
        ticket_id=clock.ticket_id,
        ticket_number=clock.ticket.number,
        metric=clock.metric,
        clock_id=clock.pk,
        due_at=clock.due_at.isoformat() if clock.due_at else None,
        level=level,
        step=step,
    )


# --- escalation ---------------------------------------------------------------------------------------
def _steps_by_policy(policy_ids: set[int]) -> dict[int, list[EscalationStep]]:
    steps: dict[int, list[EscalationStep]] = {pk: [] for pk in policy_ids}
    for step in (
        EscalationStep.objects.filter(policy_id__in=policy_ids).select_related("team").order_by("position")
    ):
        steps[step.policy_id].append(step)
    return steps


def _applicable(steps: list[EscalationStep], metric: str) -> list[EscalationStep]:
    return [step for step in steps if step.metric in (StepMetric.ANY, metric)]


INSERT_ESCALATION = f"""
INSERT INTO {EVENT_TABLE} (clock_id, ticket_id, kind, level, cause, detail, trace_id, created_at)
VALUES (%(clock)s, %(ticket)s, 'escalation', %(level)s, '', %(detail)s, %(trace_id)s, %(now)s)
ON CONFLICT (clock_id, kind, level, cause) DO NOTHING
RETURNING id
"""  # noqa: S608


@dataclass
class _EscalationBatch:
    """What the steps of one batch write, flushed in a few set-based statements before the signals."""

    automation: list[AutomationEvent] = field(default_factory=list)
    notifications: list[SLAEvent] = field(default_factory=list)
    outcomes: list[SLAEvent] = field(default_factory=list)
    clocks: list[TicketSLA] = field(default_factory=list)
    signals: list[dict[str, object]] = field(default_factory=list)

    def flush(self, now: datetime) -> None:
        AutomationEvent.objects.bulk_create(self.automation)
        SLAEvent.objects.bulk_create(self.notifications, ignore_conflicts=True)
        SLAEvent.objects.bulk_update(self.outcomes, ["detail"])
        for clock in self.clocks:
            clock.updated_at = now
        TicketSLA.objects.bulk_update(self.clocks, ["escalation_level", "next_escalation_at", "updated_at"])
        for kwargs in self.signals:
            signals.sla_escalated.send(sender=TicketSLA, **kwargs)


def _escalations(report: SweepReport, *, now: datetime, batch_size: int) -> None:
    while True:
        with transaction.atomic():
            # The ticket rows are locked with the clocks (SKIP LOCKED): a ticket someone is saving
            # right now is left for the next run, and the steps below never wait on a person.
            clocks = list(
                due_for_escalation(now)
                .select_related("ticket__team__lead", "ticket__assignee", "policy")
                .select_for_update(skip_locked=True, of=("self", "ticket"))[:batch_size]
            )
            steps = _steps_by_policy({_chain_of(clock) for clock in clocks if _chain_of(clock)})
            batch = _EscalationBatch(clocks=clocks)
            for clock in clocks:
                chain = _applicable(steps.get(_chain_of(clock), []), clock.metric)
                _escalate(clock, chain, now=now, report=report, batch=batch)
            batch.flush(now)
        if len(clocks) < batch_size:
            return


def _chain_of(clock: TicketSLA) -> int | None:
    return clock.escalation_policy_id or clock.policy_id


def _escalate(
    clock: TicketSLA,
    steps: list[EscalationStep],
    *,
    now: datetime,
    report: SweepReport,
    batch: _EscalationBatch,
) -> None:
    """Take the chain's due steps in order (several if the sweep was down), each exactly once."""
    while (
        clock.state == "breached"
        and clock.next_escalation_at is not None
        and clock.next_escalation_at <= now
        and clock.escalation_level < len(steps)
    ):
        step = steps[clock.escalation_level]
        level = clock.escalation_level + 1
        detail = {"step": step.describe(), "action": step.action}
        inserted = _returning(
            INSERT_ESCALATION,
            {
                "clock": clock.pk,
                "ticket": clock.ticket_id,
                "level": level,
                "detail": Jsonb(detail),
                "trace_id": report.trace_id,
                "now": now,
            },
        )
        if inserted:
            outcome = _take_step(clock, step, level=level, now=now, trace_id=report.trace_id, batch=batch)
            batch.outcomes.append(SLAEvent(pk=inserted[0], detail={**detail, "outcome": outcome}))
            report.escalations += 1
            report.add(_action("escalate", clock, level=level, step=step.describe()))
            logger.info(
                "SLA escalation %s level %s on %s: %s", clock.metric, level, clock.ticket.number, outcome
            )
        following = steps[level] if level < len(steps) else None
        clock.escalation_level = level
        clock.next_escalation_at = (
            clock.breached_at + timedelta(minutes=following.after_minutes)
            if following and clock.breached_at
            else None
        )
        if step.action in TICKET_CHANGING_STEPS:
            # A raised priority re-targets the clock (through the ticket signal): read it back.
            clock.refresh_from_db(fields=["state", "breached_at", "due_at", "stopped_at", "paused_since"])
            if clock.state != "breached":
                clock.next_escalation_at = None
    if clock.escalation_level >= len(steps):
        clock.next_escalation_at = None


@dataclass
class _StepResult:
    """What one escalation step did: its outcome, whom to tell, the ticket as it now is, and what
    it changed (merged into the audited before/after)."""

    outcome: str
    recipients: list[User]
    ticket: Ticket
    before: dict[str, object] = field(default_factory=dict)
    after: dict[str, object] = field(default_factory=dict)


def _notify_team_lead(ticket: Ticket, step: EscalationStep, *, reason: str) -> _StepResult:
    lead = _team_lead(ticket)
    if lead is None:
        return _StepResult("no team lead to notify", [], ticket)
    return _StepResult(f"notified {lead.email}", [lead], ticket)


def _notify_role(ticket: Ticket, step: EscalationStep, *, reason: str) -> _StepResult:
    recipients = list(User.objects.active().filter(role=step.role))
    return _StepResult(f"notified {len(recipients)} user(s) with role {step.role}", recipients, ticket)


def _notify_team(ticket: Ticket, step: EscalationStep, *, reason: str) -> _StepResult:
    recipients = list(step.team.members.active()) if step.team_id else []
    return _StepResult(f"notified team {step.team}", recipients, ticket)


def _reassign_team(ticket: Ticket, step: EscalationStep, *, reason: str) -> _StepResult:
    before = {
        "team": ticket.team.name if ticket.team_id else None,
        "assignee": ticket.assignee.email if ticket.assignee_id else None,
    }
    ticket = do_assign_ticket(
        ticket, actor=None, assignee=None, team=step.team, reason=reason, actor_label=ACTOR
    )
    lead = step.team.lead
    return _StepResult(
        f"reassigned to team {step.team}",
        [lead] if lead else list(step.team.members.active()),
        ticket,
        before=before,
        after={"team": step.team.name, "assignee": None},
    )


def _raise_priority(ticket: Ticket, step: EscalationStep, *, reason: str) -> _StepResult:
    before = {"priority": ticket.priority}
    raised = RAISE.get(ticket.priority)
    if raised is None:
        outcome = "already critical"
    else:
        ticket = do_change_priority(ticket, actor=None, priority=raised, reason=reason, actor_label=ACTOR)
        outcome = f"priority raised to {raised}"
    return _StepResult(outcome, [], ticket, before=before, after={"priority": ticket.priority})


# What each action of an escalation step does. Those that save the ticket may re-target its
# clocks (through the ticket signals): the sweep reads the clock back after them.
STEPS = {
    StepAction.NOTIFY_TEAM_LEAD: _notify_team_lead,
    StepAction.NOTIFY_ROLE: _notify_role,
    StepAction.NOTIFY_TEAM: _notify_team,
    StepAction.REASSIGN_TEAM: _reassign_team,
    StepAction.RAISE_PRIORITY: _raise_priority,
}
TICKET_CHANGING_STEPS = frozenset({StepAction.REASSIGN_TEAM, StepAction.RAISE_PRIORITY})


def _take_step(
    clock: TicketSLA,
    step: EscalationStep,
    *,
    level: int,
    now: datetime,
    trace_id: str,
    batch: _EscalationBatch,
) -> str:
    """Take one step on a clock whose ticket is locked with it, and queue what it writes."""
    ticket = clock.ticket
    reason = _("%(number)s: %(metric)s target breached, escalation step %(level)s") % {
        "number": ticket.number,
        "metric": clock.metric,
        "level": level,
    }
    result = STEPS[step.action](ticket, step, reason=reason)
    ticket = clock.ticket = result.ticket  # a step that saves the ticket hands back the saved one
    batch.automation.append(
        AutomationEvent.entry(
            actor=ACTOR,
            action="sla.escalated",
            subject=ticket,
            before={"escalation_level": level - 1, **result.before},
            after={"escalation_level": level, "step": step.action, **result.after, "outcome": result.outcome},
            reason=reason,
            trace_id=trace_id,
            at=now,
        )
    )
    if result.recipients:
        sent = notify(
            result.recipients,
            verb="sla.escalated",
            title=reason,
            body=step.describe(),
            url=_ticket_url(ticket),
            subject_type="ticket",
            subject_id=ticket.pk,
            dedupe_key=f"sla:{clock.pk}:escalation:{level}",
            email=settings.SLA_NOTIFY_EMAIL,
        )
        if sent:
            batch.notifications.append(
                SLAEvent(
                    clock=clock,
                    ticket_id=ticket.pk,
                    kind=SLAEventKind.NOTIFICATION,
                    level=level,
                    cause=SLAEventKind.ESCALATION,
                    detail={"recipients": [n.recipient.email for n in sent]},
                    trace_id=trace_id,
                    created_at=now,
                )
            )
    batch.signals.append(
        {
            "ticket": ticket,
            "clock": clock,
            "metric": clock.metric,
            "due_at": clock.due_at,
            "trace_id": trace_id,
            "level": level,
            "step": step.describe(),
        }
    )
    return result.outcome


def _team_lead(ticket: Ticket) -> User | None:
    if ticket.team_id and ticket.team.lead_id:
        return ticket.team.lead
    if ticket.assignee_id:
        team = (
            ticket.assignee.teams.filter(lead__isnull=False).select_related("lead").order_by("name").first()
        )
        if team is not None:
            return team.lead
    return None


# --- dry run ----------------------------------------------------------------------------------------------
def _plan(report: SweepReport, *, now: datetime) -> None:
    """What a real run would do now, read with plain SELECTs (no claim, no write)."""
    limit = settings.SLA_REPORT_MAX_ACTIONS
    report.warnings = crossing_into_risk(now).count()
    for clock in crossing_into_risk(now).select_related("ticket")[:limit]:
        report.add(_action("at_risk", clock))
    report.breaches = crossing_into_breach(now).count()
    breaching = list(crossing_into_breach(now).select_related("ticket")[:limit])
    for clock in breaching:
        report.add(_action("breach", clock))
    if max(report.warnings, report.breaches) > limit:
        report.actions_truncated = True
    # Escalations: clocks already due, plus those that breach in this run and whose first steps are due.
    already = list(due_for_escalation(now).select_related("ticket")[:limit])
    steps = _steps_by_policy({_chain_of(clock) for clock in already + breaching if _chain_of(clock)})
    for clock in already + breaching:
        chain = _applicable(steps.get(_chain_of(clock), []), clock.metric)
        breached_at = clock.breached_at or clock.due_at
        for index in range(clock.escalation_level, len(chain)):
            if breached_at + timedelta(minutes=chain[index].after_minutes) > now:
                break
            report.escalations += 1
            report.add(_action("escalate", clock, level=index + 1, step=chain[index].describe()))
