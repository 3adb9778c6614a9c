"""Problems: the cause behind recurring incidents, known errors, and recurrence detection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pghistory
from django.conf import settings
from django.contrib.postgres.search import TrigramWordSimilarity
from django.db import connection, models
from django.db.models import Count, Prefetch, Q, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pgvector.django import VectorField

from tickets.models import Ticket
from tickets.models.priority import Priority

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

    def known_errors(self) -> ProblemQuerySet:
        """Known errors with a workaround to offer (the ticket page's suggestions, KB search)."""
        return self.filter(status=P.KNOWN_ERROR).exclude(workaround="")

    def resembling(self, text: str, threshold: float = 0.3) -> ProblemQuerySet:
        """Those whose title resembles ``text`` (pg_trgm word similarity), closest first."""
        return (
            self.annotate(resemblance=TrigramWordSimilarity(Value(text), "title"))
            .filter(resemblance__gte=threshold)
            .order_by("-resemblance", "-pk")
        )

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


# The fields whose every change is kept in the problem's history (a timeline on its page).
AUDITED_FIELDS = [
    "title",
    "description",
    "status",
    "category",
    "team",
    "owner",
    "priority",
    "root_cause",
    "workaround",
    "fix",
    "duplicate_of",
]


@pghistory.track(
    pghistory.InsertEvent("created"),
    pghistory.UpdateEvent("changed"),
    fields=AUDITED_FIELDS,
    model_name="ProblemAudit",
    obj_field=pghistory.ObjForeignKey(related_name="audit_events", db_index=True),
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class Problem(models.Model):
    number = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=255)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=ProblemStatus.choices, default=ProblemStatus.NEW
    )
    category = models.ForeignKey(
        "tickets.Category", null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("category")
    )
    team = models.ForeignKey(
        "itsm.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="problems",
        verbose_name=_("team"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_problems",
        verbose_name=_("owner"),
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.MEDIUM
    )
    affected_items = models.ManyToManyField(
        "cmdb.ConfigurationItem", blank=True, related_name="problems", verbose_name=_("affected items")
    )
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        verbose_name=_("duplicate of"),
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
    def is_known_error(self) -> bool:
        return self.status == P.KNOWN_ERROR and bool(self.workaround.strip())

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


@pghistory.track(
    pghistory.InsertEvent("linked"),
    pghistory.UpdateEvent("moved"),
    pghistory.DeleteEvent("unlinked"),
    fields=["problem", "ticket"],
    model_name="ProblemIncidentEvent",
    obj_field=pghistory.ObjForeignKey(
        related_name="events", db_constraint=False, on_delete=models.DO_NOTHING
    ),
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class ProblemIncident(models.Model):
    """An incident linked to a problem; an incident belongs to one problem at most."""

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="links")
    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="problem_link")
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    linked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.ticket_id} → {self.problem_id}"


class RecurrenceCandidateQuerySet(models.QuerySet):
    def awaiting_review(self) -> RecurrenceCandidateQuerySet:
        return self.filter(state=RecurrenceCandidate.State.OPEN)


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
    updated_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    dismissed_reason = models.CharField(_("reason"), max_length=500, blank=True)
    # The cluster's size when dismissed: it is raised again once it grows by
    # PROBLEM_CANDIDATE_RERAISE_AFTER new incidents.
    dismissed_size = models.PositiveIntegerField(default=0)

    objects = RecurrenceCandidateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(size__gte=2), name="recurrence_candidate_size")]
        indexes = [models.Index(fields=["state", "-created_at"], name="candidate_state_idx")]

    def __str__(self) -> str:
        return f"{self.title} ({self.size})"

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN


class ProblemNote(models.Model):
    """An internal note on a problem (agents, admins and viewers read them; never requesters)."""

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    body = models.TextField(_("note"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["problem", "created_at"], name="problem_note_idx")]

    def __str__(self) -> str:
        return f"note {self.pk} on {self.problem_id}"


class IncidentVector(models.Model):
    """The embedding of an incident's title and description, for recurrence detection.

    Written by detection for the recent incidents it compares (``text_hash`` says which text it
    was made from: an edited incident gets a new one); compared with pgvector's cosine distance.
    """

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, primary_key=True, related_name="problem_vector"
    )
    embedding = VectorField(dimensions=384)
    text_hash = models.CharField(max_length=64)
    model = models.CharField(max_length=120)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"vector of {self.ticket_id}"
