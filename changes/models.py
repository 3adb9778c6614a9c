"""Change requests: what will be changed, when, how risky, who authorised it, and what it
conflicts with. Every change of a change request is kept (pghistory), with its actor."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection, models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tickets.models import Ticket

if TYPE_CHECKING:
    from itsm.models import User


class ChangeType(models.TextChoices):
    STANDARD = "standard", _("Standard (pre-approved)")
    NORMAL = "normal", _("Normal")
    EMERGENCY = "emergency", _("Emergency")


class ChangeStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ASSESS = "assess", _("Assess")
    AUTHORIZE = "authorize", _("Authorize")
    SCHEDULED = "scheduled", _("Scheduled")
    IMPLEMENT = "implement", _("Implement")
    REVIEW = "review", _("Review")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


class ChangeEvent(models.TextChoices):
    """What a change's history records (``AutomationEvent.action``), in the words its page shows."""

    CREATED = "change.created", _("Created")
    TRANSITIONED = "change.transitioned", _("Moved")
    CONFLICTS_ACCEPTED = "change.conflicts_accepted", _("Conflicts accepted")


class Level(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class ChangeOutcome(models.TextChoices):
    SUCCESSFUL = "successful", _("Successful")
    FAILED = "failed", _("Failed")
    BACKED_OUT = "backed_out", _("Backed out")


S = ChangeStatus
# The one map of allowed moves. ``authorize → scheduled`` happens when the approval is granted
# (or at once for a standard change); a rejection returns the change to ``assess``.
CHANGE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.DRAFT: (S.ASSESS, S.CANCELLED),
    S.ASSESS: (S.AUTHORIZE, S.DRAFT, S.CANCELLED),
    S.AUTHORIZE: (S.SCHEDULED, S.ASSESS, S.CANCELLED),
    S.SCHEDULED: (S.IMPLEMENT, S.ASSESS, S.CANCELLED),
    S.IMPLEMENT: (S.REVIEW,),
    S.REVIEW: (S.CLOSED,),
    S.CLOSED: (),
    S.CANCELLED: (),
}
# Where a change is planned or running: what the calendar shows and conflicts are checked against.
PLANNED_STATUSES = (S.ASSESS, S.AUTHORIZE, S.SCHEDULED, S.IMPLEMENT)

L = Level
# Likelihood × impact → risk, as the ticket priority matrix.
RISK_MATRIX: dict[tuple[str, str], str] = {
    (L.HIGH, L.HIGH): L.HIGH,
    (L.HIGH, L.MEDIUM): L.HIGH,
    (L.MEDIUM, L.HIGH): L.HIGH,
    (L.HIGH, L.LOW): L.MEDIUM,
    (L.LOW, L.HIGH): L.MEDIUM,
    (L.MEDIUM, L.MEDIUM): L.MEDIUM,
    (L.MEDIUM, L.LOW): L.LOW,
    (L.LOW, L.MEDIUM): L.LOW,
    (L.LOW, L.LOW): L.LOW,
}


def risk_of(likelihood: str, impact: str) -> str:
    return RISK_MATRIX[(likelihood, impact)]


class ChangeError(Exception):
    """A move the rules refuse; ``status_code`` is the HTTP answer."""

    status_code = 409

    def __init__(self, message: str, *, allowed: list[str] | None = None) -> None:
        self.message = message
        self.allowed = allowed or []
        super().__init__(message)


class IllegalChangeTransition(ChangeError):
    def __init__(self, current: str, requested: str, message: str = "") -> None:
        super().__init__(
            message or f"Cannot move a {current} change to {requested}.",
            allowed=list(CHANGE_TRANSITIONS.get(current, ())),
        )


# An incident on one of a change's items, created from the start of its window until this long
# after its end, is suspected to be caused by it (the change page, the KPI changes_causing_incidents).
CAUSE_GRACE = timedelta(hours=4)


class ChangeQuerySet(models.QuerySet):
    def visible_to(self, user: User) -> ChangeQuerySet:
        """Changes are internal: agents, admins and viewers read them; requesters see none."""
        if not user.is_authenticated or not user.is_active or user.is_requester:
            return self.none()
        return self

    def planned(self) -> ChangeQuerySet:
        return self.filter(status__in=PLANNED_STATUSES)

    def overlapping(self, start: datetime, end: datetime) -> ChangeQuerySet:
        """Planned to run at some moment between ``start`` and ``end``."""
        return self.filter(planned_start__lt=end, planned_end__gt=start)


AUDITED_FIELDS = [
    "type",
    "title",
    "description",
    "reason",
    "status",
    "likelihood",
    "impact",
    "risk",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "planned_start",
    "planned_end",
    "services",
    "assignee",
    "team",
    "outcome",
    "conflict_override_reason",
]


@pghistory.track(
    pghistory.InsertEvent("created"),
    pghistory.UpdateEvent("changed"),
    fields=AUDITED_FIELDS,
    model_name="ChangeAudit",
    obj_field=pghistory.ObjForeignKey(related_name="audit_events", db_index=True),
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class ChangeRequest(models.Model):
    number = models.CharField(_("number"), max_length=20, unique=True, editable=False)
    type = models.CharField(_("type"), max_length=10, choices=ChangeType.choices, default=ChangeType.NORMAL)
    title = models.CharField(_("title"), max_length=255)
    description = models.TextField(_("description"), blank=True)
    reason = models.TextField(_("reason for the change"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=ChangeStatus.choices, default=ChangeStatus.DRAFT
    )
    likelihood = models.CharField(
        _("likelihood of failure"), max_length=6, choices=Level.choices, default=Level.LOW
    )
    impact = models.CharField(_("impact"), max_length=6, choices=Level.choices, default=Level.LOW)
    risk = models.CharField(_("risk"), max_length=6, choices=Level.choices, default=Level.LOW, editable=False)
    implementation_plan = models.TextField(_("implementation plan"), blank=True)
    backout_plan = models.TextField(_("back-out plan"), blank=True)
    test_plan = models.TextField(_("test plan"), blank=True)
    planned_start = models.DateTimeField(_("planned start"), null=True, blank=True)
    planned_end = models.DateTimeField(_("planned end"), null=True, blank=True)
    affected_items = models.ManyToManyField(
        "cmdb.ConfigurationItem", blank=True, related_name="changes", verbose_name=_("affected items")
    )
    services = ArrayField(
        models.CharField(max_length=120), default=list, blank=True, verbose_name=_("affected services")
    )
    problems = models.ManyToManyField(
        "problems.Problem", blank=True, related_name="changes", verbose_name=_("problems addressed")
    )
    incidents = models.ManyToManyField(
        "tickets.Ticket", blank=True, related_name="changes", verbose_name=_("incidents addressed")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_changes",
        verbose_name=_("assignee"),
    )
    team = models.ForeignKey(
        "itsm.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="changes",
        verbose_name=_("team"),
    )
    outcome = models.CharField(_("outcome"), max_length=12, choices=ChangeOutcome.choices, blank=True)
    # Conflicts an agent accepted, with why: the keys of the conflicts at that moment (a new
    # conflict blocks authorisation again).
    conflict_override_reason = models.CharField(
        _("why the conflicts are accepted"), max_length=500, blank=True
    )
    overridden_conflicts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = ChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("change request")
        indexes = [
            models.Index(
                fields=["planned_start", "planned_end"],
                name="change_window_idx",
                condition=Q(status__in=PLANNED_STATUSES),
            ),
            models.Index(fields=["status", "-created_at"], name="change_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end__isnull=True)
                | Q(planned_start__isnull=True)
                | Q(planned_end__gt=models.F("planned_start")),
                name="change_window_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.number:
            with connection.cursor() as cursor:
                cursor.execute("SELECT nextval('changes_number_seq')")
                self.number = f"CHG-{cursor.fetchone()[0]:06d}"
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def has_window(self) -> bool:
        return self.planned_start is not None and self.planned_end is not None

    @property
    def needs_approval(self) -> bool:
        return self.type != ChangeType.STANDARD

    def incidents_during(self, user: User, *, grace: timedelta = CAUSE_GRACE) -> models.QuerySet:
        """Incidents ``user`` may see, created from the start of the window until ``grace`` after
        its end, on one of the change's items: suggested as caused by the change."""
        if not self.has_window or self.status in (ChangeStatus.DRAFT, ChangeStatus.CANCELLED):
            return Ticket.objects.none()
        return (
            Ticket.objects.visible_to(user)
            .filter(
                type="incident",
                created_at__gte=self.planned_start,
                created_at__lt=self.planned_end + grace,
                item_links__item__in=self.affected_items.all(),
            )
            .distinct()
            .order_by("created_at", "id")
        )

    def allowed_transitions(self) -> tuple[str, ...]:
        return CHANGE_TRANSITIONS.get(self.status, ())

    def can_transition_to(self, status: str) -> bool:
        return status in self.allowed_transitions()
