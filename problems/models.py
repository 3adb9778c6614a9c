"""Problems: the cause behind recurring incidents, known errors, and recurrence detection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, models
from django.db.models import Count, Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tickets.models import Ticket

if TYPE_CHECKING:
    from itsm.models import User


class ProblemStatus(models.TextChoices):
    NEW = "new", _("New")
    INVESTIGATING = "investigating", _("Investigating")
    KNOWN_ERROR = "known_error", _("Known error")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


P = ProblemStatus
PROBLEM_TRANSITIONS: dict[str, tuple[str, ...]] = {
    P.NEW: (P.INVESTIGATING, P.KNOWN_ERROR, P.RESOLVED, P.CLOSED),
    P.INVESTIGATING: (P.KNOWN_ERROR, P.RESOLVED, P.CLOSED),
    P.KNOWN_ERROR: (P.INVESTIGATING, P.RESOLVED, P.CLOSED),
    P.RESOLVED: (P.INVESTIGATING, P.CLOSED),
    P.CLOSED: (),
}


class IllegalProblemTransition(Exception):
    def __init__(self, current: str, requested: str, message: str = "") -> None:
        self.current = current
        self.requested = requested
        self.allowed = list(PROBLEM_TRANSITIONS.get(current, ()))
        self.message = message or f"Cannot move a {current} problem to {requested}."
        super().__init__(self.message)


class ProblemQuerySet(models.QuerySet):
    def active(self) -> ProblemQuerySet:
        return self.exclude(status__in=[P.RESOLVED, P.CLOSED])

    def visible_to(self, user: User) -> ProblemQuerySet:
        """Problems are internal: agents, admins and viewers read them."""
        if not user.is_authenticated or user.is_requester:
            return self.none()
        return self

    def with_incidents_for(self, user: User) -> ProblemQuerySet:
        """Each problem with ``linked_count`` (every linked incident) and ``visible_links``: the
        links to incidents ``user`` may see, with their ticket. A problem never shows the number
        or title of a ticket its reader may not open (another team's sensitive incident)."""
        links = (
            ProblemIncident.objects.filter(ticket__in=Ticket.objects.visible_to(user))
            .select_related("ticket")
            .order_by("linked_at", "pk")
        )
        return self.annotate(linked_count=Count("links")).prefetch_related(
            Prefetch("links", queryset=links, to_attr="visible_links")
        )


class Problem(models.Model):
    number = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=255)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=ProblemStatus.choices, default=ProblemStatus.NEW
    )
    category = models.ForeignKey("tickets.Category", null=True, blank=True, on_delete=models.SET_NULL)
    team = models.ForeignKey(
        "itsm.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="problems"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_problems",
    )
    root_cause = models.TextField(_("root cause"), blank=True)
    workaround = models.TextField(_("workaround"), blank=True)
    fix = models.TextField(_("permanent fix"), blank=True)
    detected = models.BooleanField(default=False, help_text=_("Opened by recurrence detection."))
    incidents = models.ManyToManyField("tickets.Ticket", through="ProblemIncident", related_name="problems")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = ProblemQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("problem")

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.number:
            with connection.cursor() as cursor:
                cursor.execute("SELECT nextval('problems_number_seq')")
                self.number = f"PRB-{cursor.fetchone()[0]:06d}"
        super().save(*args, **kwargs)

    @property
    def recurrence_count(self) -> int:
        return self.links.count()

    def can_transition_to(self, status: str) -> bool:
        return status in PROBLEM_TRANSITIONS.get(self.status, ())

    def transition_to(self, status: str) -> str:
        if status not in ProblemStatus.values or not self.can_transition_to(status):
            raise IllegalProblemTransition(self.status, status)
        if status == P.KNOWN_ERROR and not (self.root_cause or self.workaround):
            raise IllegalProblemTransition(
                self.status, status, "A known error needs a root cause or a workaround."
            )
        previous = self.status
        self.status = status
        self.updated_at = timezone.now()
        fields = ["status", "updated_at"]
        if status == P.RESOLVED:
            self.resolved_at = self.updated_at
            fields.append("resolved_at")
        self.save(update_fields=fields)
        return previous


class ProblemIncident(models.Model):
    """An incident linked to a problem; an incident belongs to one problem at most."""

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="links")
    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="problem_link")
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    linked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.ticket_id} → {self.problem_id}"


class RecurrenceCandidate(models.Model):
    """A cluster of similar recent incidents found by detection, awaiting a decision."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        ACCEPTED = "accepted", _("Accepted")
        DISMISSED = "dismissed", _("Dismissed")

    signature = models.CharField(
        max_length=64, unique=True, help_text=_("Identity of the cluster (its seed).")
    )
    title = models.CharField(max_length=255)
    tickets = models.ManyToManyField("tickets.Ticket", related_name="+")
    size = models.PositiveIntegerField()
    score = models.FloatField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    problem = models.ForeignKey(Problem, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(size__gte=2), name="recurrence_candidate_size")]

    def __str__(self) -> str:
        return f"{self.title} ({self.size})"
