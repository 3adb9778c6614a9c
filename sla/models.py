"""SLA domain: calendars, policies and their escalation chains, per-ticket clocks and their events,
pauses, and the advisory breach-risk evaluations."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm.models import CustomerTier, Role
from sla import business_time
from sla.business_time import Schedule
from tickets.models import Priority, TicketType

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tickets.models import Ticket


WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


# --- calendars -----------------------------------------------------------------------------------
class CalendarQuerySet(models.QuerySet):
    def with_hours(self) -> CalendarQuerySet:
        return self.prefetch_related("periods", "holidays")


class Calendar(models.Model):
    """Working time: periods per weekday, a time zone, holidays. ``around_the_clock`` is 24×7."""

    BUILTIN_24X7 = "24×7"

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", help_text=_("An IANA name, such as Europe/Paris.")
    )
    around_the_clock = models.BooleanField(
        _("24×7"),
        default=False,
        help_text=_("Every hour of every day counts (holidays excepted); working periods are ignored."),
    )
    builtin = models.BooleanField(default=False, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CalendarQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("calendar")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            business_time.zone(self.time_zone)
        except ValueError as error:
            raise ValidationError({"time_zone": str(error)}) from error

    def schedule(self) -> Schedule:
        """The immutable picture the arithmetic works on (reads prefetched periods and holidays)."""
        weekly: list[list[business_time.Period]] = [[] for _day in range(7)]
        for period in self.periods.all():
            weekly[period.weekday].append((period.start, period.end_or_midnight))
        return Schedule(
            time_zone=self.time_zone,
            weekly=tuple(tuple(sorted(day, key=lambda p: p[0])) for day in weekly),
            holidays=frozenset(holiday.date for holiday in self.holidays.all()),
            always=self.around_the_clock,
        )


class WorkingPeriod(models.Model):
    """One stretch of working time on a weekday; an end of 00:00 means midnight (end of the day)."""

    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="periods")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAYS)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("to"), help_text=_("00:00 means midnight at the end of the day."))

    class Meta:
        ordering = ["calendar", "weekday", "start"]
        verbose_name = _("working period")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"

    @property
    def end_or_midnight(self) -> time | None:
        return None if self.end == time(0) else self.end

    def clean(self) -> None:
        if self.start is None or self.end is None:
            return
        if self.end != time(0) and self.end <= self.start:
            raise ValidationError(
                {
                    "end": _(
                        "The period must end after it starts (use 00:00 for midnight; split overnight shifts in two)."
                    )
                }
            )


class Holiday(models.Model):
    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        ordering = ["calendar", "date"]
        verbose_name = _("holiday")
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="sla_holiday_unique_date")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


# --- policies ------------------------------------------------------------------------------------
class TierMultiplier(models.Model):
    """Scales every target for tickets of an organisation of this tier (0.5 halves the targets)."""

    DEFAULTS = {
        CustomerTier.ENTERPRISE: Decimal("0.50"),
        CustomerTier.BUSINESS: Decimal("0.75"),
        CustomerTier.STANDARD: Decimal("1.00"),
        CustomerTier.FREE: Decimal("1.50"),
    }

    tier = models.CharField(_("customer tier"), max_length=20, choices=CustomerTier.choices, unique=True)
    multiplier = models.DecimalField(
        _("multiplier"),
        max_digits=4,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.05")), MaxValueValidator(Decimal("10"))],
    )

    class Meta:
        ordering = ["multiplier"]
        verbose_name = _("tier multiplier")

    def __str__(self) -> str:
        return f"{self.get_tier_display()} × {self.multiplier}"

    @classmethod
    def for_tier(cls, tier: str | None) -> Decimal:
        if not tier:
            return Decimal("1")
        value = cls.objects.filter(tier=tier).values_list("multiplier", flat=True).first()
        return value if value is not None else cls.DEFAULTS.get(tier, Decimal("1"))


class PolicyCriteria(Protocol):
    """What a policy matches on: an ``SLAPolicy`` row or a candidate of the simulator."""

    priority: str
    ticket_type: str
    category_id: int | None
    organisation_id: int | None


P = TypeVar("P", bound=PolicyCriteria)


def policy_matches(policy: PolicyCriteria, ticket: Ticket) -> bool:
    """The policy applies to the ticket: same priority, and each other criterion blank or equal."""
    return (
        policy.priority == ticket.priority
        and policy.ticket_type in ("", ticket.type)
        and policy.category_id in (None, ticket.category_id)
        and policy.organisation_id in (None, ticket.organisation_id)
    )


def policy_specificity(policy: PolicyCriteria) -> int:
    """Organisation beats category beats ticket type (and any two of them beat the third)."""
    return (
        (4 if policy.organisation_id else 0)
        + (2 if policy.category_id else 0)
        + (1 if policy.ticket_type else 0)
    )


def best_policy(policies: Iterable[P], ticket: Ticket) -> P | None:
    """The most specific of the policies that apply to the ticket (the first given on a tie).

    The one matching rule: the live clocks (``SLAPolicyQuerySet.best_for``) and the simulator
    (``sla.simulate.PolicySet.best_for``) both pick with it."""
    matching = [policy for policy in policies if policy_matches(policy, ticket)]
    return max(matching, key=policy_specificity, default=None)


class SLAPolicyQuerySet(models.QuerySet):
    def active(self) -> SLAPolicyQuerySet:
        return self.filter(is_active=True)

    def best_for(self, ticket: Ticket) -> SLAPolicy | None:
        """The most specific active policy that applies to the ticket (see ``best_policy``).
        Only the ticket's priority is filtered in SQL, to read few rows; the rule is ``policy_matches``."""
        candidates = self.active().filter(priority=ticket.priority).select_related("calendar").order_by("pk")
        return best_policy(candidates, ticket)


class SLAPolicy(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices)
    ticket_type = models.CharField(
        _("ticket type"),
        max_length=20,
        choices=TicketType.choices,
        blank=True,
        help_text=_("Blank: any type."),
    )
    category = models.ForeignKey(
        "tickets.Category",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Blank: any category."),
    )
    organisation = models.ForeignKey(
        "itsm.Organisation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Blank: any organisation."),
    )
    response_minutes = models.PositiveIntegerField(
        _("first response target (minutes)"), validators=[MinValueValidator(1), MaxValueValidator(525_600)]
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution target (minutes)"), validators=[MinValueValidator(1), MaxValueValidator(525_600)]
    )
    calendar = models.ForeignKey(Calendar, on_delete=models.PROTECT, related_name="policies")
    warning_threshold_percent = models.PositiveSmallIntegerField(
        _("at risk when this % of the target is left"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SLAPolicyQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "name"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        constraints = [
            # Two active policies with the same criteria would make matching ambiguous.
            models.UniqueConstraint(
                fields=["priority", "ticket_type", "category", "organisation"],
                condition=Q(is_active=True),
                nulls_distinct=False,
                name="sla_policy_unique_active_criteria",
            ),
            models.CheckConstraint(
                condition=Q(resolution_minutes__gte=models.F("response_minutes")),
                name="sla_policy_resolution_after_response",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if (
            self.response_minutes is not None
            and self.resolution_minutes is not None
            and self.resolution_minutes < self.response_minutes
        ):
            errors.setdefault("resolution_minutes", []).append(
                str(_("The resolution target cannot be shorter than the first response target."))
            )
        if self.is_active and self.priority:
            clash = (
                SLAPolicy.objects.active()
                .filter(
                    priority=self.priority,
                    ticket_type=self.ticket_type or "",
                    category_id=self.category_id,
                    organisation_id=self.organisation_id,
                )
                .exclude(pk=self.pk)
                .first()
            )
            if clash is not None:
                errors.setdefault("priority", []).append(
                    str(
                        _("The active policy “%(name)s” already matches the same tickets.")
                        % {"name": clash.name}
                    )
                )
        if errors:
            raise ValidationError(errors)

    def target_seconds(self, metric: str, multiplier: Decimal = Decimal("1")) -> int:
        """The target in working seconds, scaled by the customer tier's multiplier."""
        minutes = self.response_minutes if metric == Metric.RESPONSE else self.resolution_minutes
        return max(int(Decimal(minutes) * 60 * multiplier), 1)


class StepAction(models.TextChoices):
    NOTIFY_TEAM_LEAD = "notify_team_lead", _("Notify the assignee's team lead")
    NOTIFY_ROLE = "notify_role", _("Notify everyone with a role")
    NOTIFY_TEAM = "notify_team", _("Notify a team")
    REASSIGN_TEAM = "reassign_team", _("Reassign to a team")
    RAISE_PRIORITY = "raise_priority", _("Raise the priority one level")


class StepMetric(models.TextChoices):
    ANY = "any", _("Both clocks")
    RESPONSE = "response", _("First response")
    RESOLUTION = "resolution", _("Resolution")


class EscalationStep(models.Model):
    """One step of a policy's escalation chain, taken ``after_minutes`` after the breach."""

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="escalation_steps")
    position = models.PositiveSmallIntegerField(_("order"), validators=[MinValueValidator(1)])
    after_minutes = models.PositiveIntegerField(
        _("minutes after the breach"), default=0, validators=[MaxValueValidator(525_600)]
    )
    metric = models.CharField(_("clock"), max_length=12, choices=StepMetric.choices, default=StepMetric.ANY)
    action = models.CharField(_("action"), max_length=20, choices=StepAction.choices)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, blank=True)
    team = models.ForeignKey("itsm.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["policy", "position"]
        verbose_name = _("escalation step")
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="sla_escalation_step_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.describe()}"

    def describe(self) -> str:
        label = str(self.get_action_display())
        if self.action == StepAction.NOTIFY_ROLE and self.role:
            label = f"{label}: {self.get_role_display()}"
        elif self.action in (StepAction.NOTIFY_TEAM, StepAction.REASSIGN_TEAM) and self.team_id:
            label = f"{label}: {self.team}"
        return f"{label} (+{self.after_minutes} min)"

    def clean(self) -> None:
        if self.action == StepAction.NOTIFY_ROLE and not self.role:
            raise ValidationError({"role": _("Choose the role to notify.")})
        if self.action in (StepAction.NOTIFY_TEAM, StepAction.REASSIGN_TEAM) and not self.team_id:
            raise ValidationError({"team": _("Choose the team.")})


def check_escalation_chain(steps: list[EscalationStep]) -> None:
    """A chain runs in order: positions are unique and a later step is not due sooner.
    (Each step's own fields are checked by ``EscalationStep.clean``.)"""
    errors: list[str] = []
    positions = [step.position for step in steps]
    if len(set(positions)) != len(positions):
        errors.append(str(_("Two escalation steps have the same order.")))
    ordered = sorted(steps, key=lambda step: step.position)
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if later.after_minutes < earlier.after_minutes:
            errors.append(
                str(
                    _(
                        "Step %(later)s is due %(later_minutes)s minutes after the breach, sooner than step %(earlier)s "
                        "(%(earlier_minutes)s minutes): order the steps by their delay."
                    )
                    % {
                        "later": later.position,
                        "later_minutes": later.after_minutes,
                        "earlier": earlier.position,
                        "earlier_minutes": earlier.after_minutes,
                    }
                )
            )
    if errors:
        raise ValidationError(errors)


# --- clocks --------------------------------------------------------------------------------------
class Metric(models.TextChoices):
    RESPONSE = "response", _("First response")
    RESOLUTION = "resolution", _("Resolution")


class ClockState(models.TextChoices):
    ON_TRACK = "on_track", _("On track")
    AT_RISK = "at_risk", _("At risk")
    BREACHED = "breached", _("Breached")
    MET = "met", _("Met")
    PAUSED = "paused", _("Paused")
    # Stopped without an outcome: the ticket was merged into another (neither met nor breached).
    CANCELLED = "cancelled", _("Cancelled")


class ClockSource(models.TextChoices):
    LOCAL = "local", _("Local")
    JIRA = "jira", _("Jira")


RUNNING_STATES = (ClockState.ON_TRACK, ClockState.AT_RISK)


class TicketSLAQuerySet(models.QuerySet):
    def running(self) -> TicketSLAQuerySet:
        return self.filter(state__in=RUNNING_STATES)

    def crossing_into_risk(self, now: datetime) -> TicketSLAQuerySet:
        return self.filter(state=ClockState.ON_TRACK, warn_at__lte=now, due_at__gt=now)

    def crossing_into_breach(self, now: datetime) -> TicketSLAQuerySet:
        return self.filter(state__in=RUNNING_STATES, due_at__lte=now)

    def due_for_escalation(self, now: datetime) -> TicketSLAQuerySet:
        return self.filter(
            state=ClockState.BREACHED,
            stopped_at__isnull=True,
            paused_since__isnull=True,
            next_escalation_at__lte=now,
        )

    def local(self) -> TicketSLAQuerySet:
        return self.filter(source=ClockSource.LOCAL)

    def with_outcome(self) -> TicketSLAQuerySet:
        """Clocks whose fate is known: stopped, or breached while still running."""
        return self.filter(Q(stopped_at__isnull=False) | Q(breached_at__isnull=False))


class TicketSLA(models.Model):
    """One clock per ticket and metric. ``due_at`` and ``warn_at`` are stored so the sweep is an
    indexed range query; both are recomputed on every pause, resume, reopen and re-target."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_clocks")
    metric = models.CharField(_("metric"), max_length=12, choices=Metric.choices)
    policy = models.ForeignKey(
        SLAPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="clocks"
    )
    calendar = models.ForeignKey(Calendar, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(
        _("source"), max_length=10, choices=ClockSource.choices, default=ClockSource.LOCAL
    )
    target_seconds = models.PositiveIntegerField(_("target (working seconds)"), default=0)
    warning_threshold_percent = models.PositiveSmallIntegerField(default=15)
    started_at = models.DateTimeField(_("started"))
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    warn_at = models.DateTimeField(_("at risk from"), null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(_("paused (seconds)"), default=0)
    paused_business_seconds = models.PositiveIntegerField(default=0)
    paused_since = models.DateTimeField(_("paused since"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    breached_at = models.DateTimeField(_("breached"), null=True, blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=ClockState.choices, default=ClockState.ON_TRACK
    )
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    # The chain being followed: the policy in force at the breach, kept when a step (a raised
    # priority) re-targets the clock under another policy, so the chain completes in order.
    escalation_policy = models.ForeignKey(
        SLAPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    # When the advisory risk of this clock was last evaluated (the sweep's risk pass claims by it).
    risk_evaluated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TicketSLAQuerySet.as_manager()

    class Meta:
        ordering = ["ticket", "metric"]
        verbose_name = _("SLA clock")
        constraints = [models.UniqueConstraint(fields=["ticket", "metric"], name="sla_clock_unique_metric")]
        indexes = [
            # The sweep's range scans, over running clocks only (the partial index stays small).
            models.Index(
                fields=["due_at"],
                name="sla_clock_due_running_idx",
                condition=Q(state__in=["on_track", "at_risk"]),
            ),
            models.Index(
                fields=["warn_at"], name="sla_clock_warn_running_idx", condition=Q(state="on_track")
            ),
            models.Index(
                fields=["next_escalation_at"],
                name="sla_clock_escalation_idx",
                condition=Q(state="breached", next_escalation_at__isnull=False),
            ),
            models.Index(
                fields=["risk_evaluated_at"],
                name="sla_clock_risk_idx",
                condition=Q(stopped_at__isnull=True, metric="resolution"),
            ),
            models.Index(fields=["state", "metric"], name="sla_clock_state_idx"),
            models.Index(fields=["metric", "created_at"], name="sla_clock_metric_created_idx"),
            # KPIs: clocks whose outcome (stop in time, or breach) falls in a range.
            models.Index(
                fields=["stopped_at"], name="sla_clock_stopped_idx", condition=Q(stopped_at__isnull=False)
            ),
            models.Index(
                fields=["breached_at"], name="sla_clock_breached_idx", condition=Q(breached_at__isnull=False)
            ),
            # /metrics: the clocks still running (a few thousand among millions), by metric and state.
            models.Index(
                fields=["metric", "state"],
                include=["due_at", "warn_at", "paused_since"],
                name="sla_clock_unstopped_idx",
                condition=Q(stopped_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.metric} ({self.state})"

    @property
    def is_stopped(self) -> bool:
        return self.stopped_at is not None

    @property
    def is_paused(self) -> bool:
        return self.paused_since is not None and self.stopped_at is None

    @property
    def is_running(self) -> bool:
        return not self.is_stopped and not self.is_paused

    def status_at(self, now: datetime) -> str:
        """The API/badge word, computed from the stored times (exact even between two sweeps)."""
        if self.due_at is None:
            return "unknown"
        if self.state == ClockState.CANCELLED:
            return "cancelled"
        if self.is_stopped:
            return "breached" if self.breached_at or self.stopped_at > self.due_at else "completed"
        if self.is_paused:
            return "paused"
        if now >= self.due_at:
            return "breached"
        if self.warn_at is not None and now >= self.warn_at:
            return "at_risk"
        return "ok"

    def remaining_seconds(self, now: datetime) -> int | None:
        """Wall-clock seconds left until due (negative once breached), frozen while paused or stopped."""
        if self.due_at is None:
            return None
        reference = self.stopped_at or self.paused_since or now
        return int((self.due_at - reference).total_seconds())

    def elapsed_fraction(self, now: datetime, schedule: Schedule) -> float:
        """The share of the target used so far, in working time (1.0 = due now)."""
        if not self.target_seconds:
            return 0.0
        end = self.stopped_at or self.paused_since or now
        used = business_time.between(schedule, self.started_at, end) - self.paused_business_seconds
        return max(used, 0.0) / self.target_seconds

    def recompute(self, *, now: datetime, schedule: Schedule, pauses: list[SLAPause]) -> None:
        """Recompute due/warn/paused totals from the start, the target and the pause log.

        Rebuilding from the log (rather than adding deltas) keeps a re-target, a calendar edit,
        a reopen and a late resume all exact. The state moves forward into at-risk or breached
        only in the sweep, which records the event exactly once; here it is settled back.
        """
        end = self.stopped_at or now
        wall = business = 0.0
        paused_since = None
        for pause in pauses:
            if pause.reason == PauseReason.RESOLVED and self.metric != Metric.RESOLUTION:
                continue
            begin = max(pause.started_at, self.started_at)
            if pause.ended_at is None:
                if self.stopped_at is None and pause.reason != PauseReason.RESOLVED:
                    paused_since = begin
                continue
            finish = min(pause.ended_at, end)
            if finish > begin:
                wall += (finish - begin).total_seconds()
                business += business_time.between(schedule, begin, finish)
        self.paused_seconds = int(wall)
        self.paused_business_seconds = int(business)
        self.paused_since = paused_since
        self.due_at = business_time.add(schedule, self.started_at, self.target_seconds + business)
        warn_after = self.target_seconds * (100 - self.warning_threshold_percent) / 100
        self.warn_at = business_time.add(schedule, self.started_at, warn_after + business)
        self.settle(now)

    def settle(self, now: datetime) -> None:
        if self.stopped_at is not None:
            if self.breached_at is None and self.stopped_at > self.due_at:
                self.breached_at = self.due_at
            elif self.breached_at is not None and self.stopped_at <= self.due_at:
                self.breached_at = None  # a re-target gave it more time than it used
            self.state = ClockState.BREACHED if self.breached_at else ClockState.MET
            self.next_escalation_at = None
        elif self.paused_since is not None:
            self.state = ClockState.PAUSED
        elif now >= self.due_at:
            # Already breached: stays so. Not yet: on_track, and the sweep claims the breach.
            self.state = ClockState.BREACHED if self.breached_at else ClockState.ON_TRACK
            if self.state == ClockState.ON_TRACK:
                self.next_escalation_at = None
                self.escalation_policy = None
        else:
            if self.breached_at is not None:
                self.breached_at = None  # a re-target moved the due time past now
                self.next_escalation_at = None
                self.escalation_policy = None
            was_at_risk = self.state == ClockState.AT_RISK
            self.state = ClockState.AT_RISK if was_at_risk and now >= self.warn_at else ClockState.ON_TRACK
        self.updated_at = now


class PauseReason(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    PENDING_CUSTOMER = "pending_customer", _("Pending customer")
    PENDING_VENDOR = "pending_vendor", _("Pending vendor")
    RESOLVED = "resolved", _("Resolved (until reopened)")


class SLAPause(models.Model):
    """The pause log of a ticket: pending statuses pause both clocks; a resolution, until a
    reopen, pauses only the resolution clock. Clocks are rebuilt from it; the simulator replays it."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_pauses")
    reason = models.CharField(max_length=20, choices=PauseReason.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["ticket", "started_at", "pk"]
        verbose_name = _("SLA pause")
        indexes = [models.Index(fields=["ticket", "started_at"], name="sla_pause_ticket_idx")]
        constraints = [
            # At most one open pause per ticket: a second concurrent "pause" cannot double count.
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(ended_at__isnull=True), name="sla_pause_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.reason} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self) -> timedelta | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


class SLAEventKind(models.TextChoices):
    WARNING = "warning", _("At-risk warning")
    BREACH = "breach", _("Breach")
    ESCALATION = "escalation", _("Escalation")
    NOTIFICATION = "notification", _("Notification sent")


class SLAEvent(models.Model):
    """Exactly once per clock, kind, level and cause (the unique constraint is the guarantee)."""

    clock = models.ForeignKey(TicketSLA, on_delete=models.CASCADE, related_name="events")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_events")
    kind = models.CharField(max_length=15, choices=SLAEventKind.choices)
    level = models.PositiveSmallIntegerField(default=0)
    # For notifications: what they were about (warning, breach, escalation); blank otherwise.
    cause = models.CharField(max_length=15, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    trace_id = models.UUIDField(default=uuid.uuid4)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("SLA event")
        constraints = [
            models.UniqueConstraint(fields=["clock", "kind", "level", "cause"], name="sla_event_once")
        ]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="sla_event_ticket_idx"),
            models.Index(fields=["kind", "created_at"], name="sla_event_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.clock_id} {self.kind} {self.level}"


# --- advisory risk ---------------------------------------------------------------------------------
class RiskBand(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class RiskMode(models.TextChoices):
    SHADOW = "shadow", _("Shadow (record only)")
    ASSIST = "assist", _("Assist (show to agents)")


class SLARiskModel(models.Model):
    """A logistic regression trained on the organisation's own clocks, kept as plain numbers
    (feature names, coefficients, intercept): readable, and loaded without unpickling anything."""

    version = models.CharField(max_length=60, unique=True)
    feature_names = models.JSONField(default=list)
    coefficients = models.JSONField(default=list)
    intercept = models.FloatField(default=0.0)
    samples = models.PositiveIntegerField(default=0)
    positives = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    trained_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-trained_at"]
        get_latest_by = "trained_at"
        verbose_name = _("SLA risk model")

    def __str__(self) -> str:
        return self.version


class SLARiskEvaluation(models.Model):
    """Advisory only: rules escalate, this never does."""

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="sla_risk_evaluations"
    )
    clock = models.ForeignKey(TicketSLA, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    score = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(1)])
    band = models.CharField(max_length=10, choices=RiskBand.choices)
    confidence = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(1)])
    suggested_priority = models.CharField(max_length=10, choices=Priority.choices)
    reasoning = models.TextField()
    model_version = models.CharField(max_length=60)
    mode = models.CharField(max_length=10, choices=RiskMode.choices, default=RiskMode.SHADOW)
    features = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        get_latest_by = "created_at"
        verbose_name = _("SLA risk evaluation")
        indexes = [models.Index(fields=["ticket", "-created_at"], name="sla_risk_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.band} {self.score:.2f}"
