"""Priority from impact × urgency (ITIL matrix), editable in the admin."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Impact(models.TextChoices):
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class Urgency(models.TextChoices):
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class Priority(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class PriorityReasonRequired(ValueError):
    """A priority override without a reason: every override says why (the audit trail keeps it)."""

    def __init__(self) -> None:
        super().__init__("Overriding the priority needs a reason.")


def override_reason(reason: str | None) -> str:
    """The reason of a priority override as it is kept (trimmed); raises ``PriorityReasonRequired``
    when there is none. The one place this rule is written: pages, API, bulk and automation all
    reach it through the ticket's ``stage_priority`` or the actions' check."""
    reason = (reason or "").strip()
    if not reason:
        raise PriorityReasonRequired
    return reason[:500]


DEFAULT_MATRIX: dict[tuple[str, str], str] = {
    ("high", "high"): Priority.CRITICAL,
    ("high", "medium"): Priority.HIGH,
    ("medium", "high"): Priority.HIGH,
    ("high", "low"): Priority.MEDIUM,
    ("medium", "medium"): Priority.MEDIUM,
    ("low", "high"): Priority.MEDIUM,
    ("medium", "low"): Priority.LOW,
    ("low", "medium"): Priority.LOW,
    ("low", "low"): Priority.LOW,
}


class PriorityRule(models.Model):
    """One cell of the impact × urgency matrix. Missing cells fall back to the ITIL default."""

    impact = models.CharField(max_length=10, choices=Impact.choices)
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    priority = models.CharField(max_length=10, choices=Priority.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["impact", "urgency"], name="priority_rule_unique_cell")
        ]
        ordering = ["impact", "urgency"]
        verbose_name = _("priority rule")

    def __str__(self) -> str:
        return f"{self.impact} × {self.urgency} → {self.priority}"


def priority_for(impact: str, urgency: str) -> str:
    rule = (
        PriorityRule.objects.filter(impact=impact, urgency=urgency).values_list("priority", flat=True).first()
    )
    return rule or DEFAULT_MATRIX[(impact, urgency)]
