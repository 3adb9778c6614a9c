"""Recorded copilot runs: the question, each tool call, the answer, its citations and proposals.

Everything here is append-only (database triggers refuse UPDATE and DELETE): an admin reading a
run sees exactly what happened. Whether a proposal was accepted is a separate row
(``ProposalDecision``), one per proposal at most, so accepting twice changes nothing twice.
"""

from __future__ import annotations

import numpy as np
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    ANSWERED = "answered", _("Answered")
    DECLINED = "declined", _("Declined")
    FAILED = "failed", _("Failed")


class RunSource(models.TextChoices):
    TICKET = "ticket", _("Ticket page")
    PAGE = "page", _("Copilot page")
    DASHBOARD = "dashboard", _("Dashboard")
    PORTAL = "portal", _("Portal")
    API = "api", _("API")
    REPLAY = "replay", _("Replay")


APPEND_ONLY = [
    pgtrigger.Protect(name="append_only_update", operation=pgtrigger.Update),
    pgtrigger.Protect(name="append_only_delete", operation=pgtrigger.Delete),
]


class CopilotRunQuerySet(models.QuerySet):
    def visible_to(self, user: object) -> CopilotRunQuerySet:
        """Admins read every run; everyone else their own."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        return self.filter(user=user)

    def using_tool(self, tool: str) -> CopilotRunQuerySet:
        return self.filter(Exists(CopilotStep.objects.filter(run=OuterRef("pk"), tool=tool)))

    def created_since(self, moment: object) -> CopilotRunQuerySet:
        return self.filter(created_at__gte=moment)

    def originals(self) -> CopilotRunQuerySet:
        """Runs asked by someone, not replays of other runs."""
        return self.filter(replay_of__isnull=True)


class CopilotRun(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="copilot_runs")
    source = models.CharField(_("source"), max_length=12, choices=RunSource.choices, default=RunSource.API)
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.PROTECT, related_name="copilot_runs"
    )
    question = models.TextField(_("question"))
    planner = models.CharField(_("planner"), max_length=12)  # local | llm
    model = models.CharField(_("model"), max_length=120, blank=True)
    intent = models.CharField(_("intent"), max_length=40, blank=True)
    # The planner's plan: [{"tool", "arguments"}] as decided before running (replay re-runs it).
    plan = models.JSONField(default=list, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=RunStatus.choices)
    answer = models.TextField(_("answer"), blank=True)
    citations = models.JSONField(default=list, blank=True)
    # Why the LLM planner handed over to the local one, when it did.
    note = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replays"
    )
    diff = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = CopilotRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("copilot run")
        indexes = [
            models.Index(fields=["user", "-created_at"], name="copilot_run_user_idx"),
            models.Index(fields=["status", "-created_at"], name="copilot_run_status_idx"),
            models.Index(fields=["-created_at", "-id"], name="copilot_run_created_idx"),
        ]
        triggers = APPEND_ONLY

    def __str__(self) -> str:
        return f"#{self.pk} {self.question[:60]}"


class CopilotStep(models.Model):
    run = models.ForeignKey(CopilotRun, on_delete=models.PROTECT, related_name="steps")
    position = models.PositiveSmallIntegerField()
    tool = models.CharField(max_length=40)
    arguments = models.JSONField(default=dict, blank=True)
    # [{"type", "id"}] of what the tool returned; ``digest`` a short text of its result.
    result_ids = models.JSONField(default=list, blank=True)
    digest = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    tokens = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        verbose_name = _("copilot step")
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="copilot_step_unique_position")
        ]
        indexes = [models.Index(fields=["tool", "run"], name="copilot_step_tool_idx")]
        triggers = APPEND_ONLY

    def __str__(self) -> str:
        return f"{self.run_id}.{self.position} {self.tool}"


class ProposalAction(models.TextChoices):
    ASSIGN = "assign", _("Assign")
    SET_STATUS = "set_status", _("Change status")
    SET_PRIORITY = "set_priority", _("Change priority")
    REPLY = "reply", _("Post a reply")
    LINK_PROBLEM = "link_problem", _("Link to a problem")


class CopilotProposal(models.Model):
    """A write the copilot suggests and never performs: the user confirms it (one click)."""

    run = models.ForeignKey(CopilotRun, on_delete=models.PROTECT, related_name="proposals")
    action = models.CharField(max_length=20, choices=ProposalAction.choices)
    arguments = models.JSONField(default=dict)
    label = models.CharField(max_length=300)

    class Meta:
        ordering = ["run", "id"]
        verbose_name = _("copilot proposal")
        triggers = APPEND_ONLY

    def __str__(self) -> str:
        return self.label


class DecisionOutcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DISMISSED = "dismissed", _("Dismissed")


class ProposalDecision(models.Model):
    proposal = models.OneToOneField(CopilotProposal, on_delete=models.PROTECT, related_name="decision")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=10, choices=DecisionOutcome.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("proposal decision")
        triggers = APPEND_ONLY
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=DecisionOutcome.values), name="copilot_decision_outcome_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.proposal_id} {self.outcome}"


class RecommendationKind(models.TextChoices):
    RISING_CATEGORY = "rising_category", _("Incidents rising in a category")
    TEAM_OVER_CAPACITY = "team_over_capacity", _("Team over capacity")
    SLA_POLICY_BREACHED = "sla_policy_breached", _("SLA policy breached often")
    ARTICLE_UNHELPFUL = "article_unhelpful", _("Article voted unhelpful")
    TRIAGE_CORRECTED = "triage_corrected", _("Triage often corrected")
    MISSING_ARTICLE = "missing_article", _("Resolved tickets without an article")


class RecommendationStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DISMISSED = "dismissed", _("Dismissed")
    DONE = "done", _("Done")


class RecommendationQuerySet(models.QuerySet):
    def open(self) -> RecommendationQuerySet:
        return self.filter(status=RecommendationStatus.OPEN)


class Recommendation(models.Model):
    """Written by the periodic task from the KPIs and queues; ``key`` names what it is about and
    the week (or month), so the same recommendation is raised once in that period."""

    kind = models.CharField(max_length=30, choices=RecommendationKind.choices)
    key = models.CharField(max_length=120)
    title = models.CharField(max_length=300)
    evidence = models.JSONField(default=dict)
    action_url = models.CharField(max_length=300, blank=True)
    action_label = models.CharField(max_length=120, blank=True)
    status = models.CharField(
        max_length=10, choices=RecommendationStatus.choices, default=RecommendationStatus.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = RecommendationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("recommendation")
        constraints = [
            # One per key, whatever its status: dismissed this week, it is not raised again this week.
            models.UniqueConstraint(fields=["kind", "key"], name="copilot_recommendation_unique_key")
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="copilot_recommendation_idx")]

    def __str__(self) -> str:
        return self.title


class QuickFixOutcome(models.TextChoices):
    INSERTED = "inserted", _("Inserted into a reply")
    LINKED = "linked", _("Known error linked")
    DISMISSED = "dismissed", _("Dismissed")


class QuickFixDecision(models.Model):
    """What an agent did with a quick fix (append-only; feeds the ``quick_fix_acceptance_rate`` KPI)."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.PROTECT, related_name="quick_fix_decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=10, choices=QuickFixOutcome.choices)
    confidence = models.FloatField()
    sources = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("quick fix decision")
        indexes = [models.Index(fields=["created_at"], name="copilot_quickfix_created_idx")]
        triggers = APPEND_ONLY

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.outcome}"


class QuickFixCalibrationQuerySet(models.QuerySet):
    def active(self) -> QuickFixCalibrationQuerySet:
        return self.filter(is_active=True)


class QuickFixCalibration(models.Model):
    """One fit of the quick fix's confidence on the organisation's resolved tickets.

    Each resolved ticket was given the quick fix the *other* resolved tickets, known errors and
    articles suggest; whether that fix matched how the ticket was really resolved, against the
    rule's raw score, is what the isotonic map (triage's ``TopLabelCalibrator``) was fitted on.
    Stored as its knots, versioned with one active row, as triage stores its models.
    """

    version = models.PositiveIntegerField(unique=True)
    fitted_at = models.DateTimeField(default=timezone.now)
    # {source kind or "all": [[raw score, probability], …] ascending}: the calibrated confidence
    # is the linear interpolation between the knots of the fix's kind (else "all"), clipped at
    # both ends — what the isotonic regression predicts.
    points = models.JSONField(default=dict)
    rows = models.PositiveIntegerField(default=0, help_text=_("Resolved tickets with a quick fix."))
    metrics = models.JSONField(default=dict, help_text=_("Accuracy, Brier score and reliability."))
    # The newest resolved ticket the fit saw: the nightly refit waits for newer ones.
    last_ticket_resolved_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)
    is_active = models.BooleanField(default=True)

    objects = QuickFixCalibrationQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        verbose_name = _("quick fix calibration")
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True),
                name="copilot_one_active_quick_fix_calibration",
            )
        ]

    def __str__(self) -> str:
        return f"quick fix calibration v{self.version} ({self.rows} tickets)"

    def calibrate(self, raw: float, basis: str = "") -> float:
        knots = self.points.get(basis) or self.points.get("all")
        if not knots:
            return raw
        return float(np.interp(raw, [knot[0] for knot in knots], [knot[1] for knot in knots]))
