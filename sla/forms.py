"""Admin forms: they validate only (the model's clean() is the one rule book, shared with the API)."""

from __future__ import annotations

from datetime import time

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from sla.models import EscalationStep, SLAPolicy, check_escalation_chain


class SLAPolicyForm(forms.ModelForm):
    class Meta:
        model = SLAPolicy
        fields = [
            "name",
            "priority",
            "ticket_type",
            "category",
            "organisation",
            "response_minutes",
            "resolution_minutes",
            "calendar",
            "warning_threshold_percent",
            "is_active",
        ]


class EscalationStepFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return  # each step's own errors are shown on its row first
        steps = [
            EscalationStep(
                **{
                    name: form.cleaned_data.get(name)
                    for name in ("position", "after_minutes", "metric", "action", "role", "team")
                }
            )
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        for step in steps:
            step.team_id = step.team.pk if step.team else None
            step.role = step.role or ""
        check_escalation_chain(steps)


class WorkingPeriodFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        periods: dict[int, list[tuple[time, time]]] = {}
        for form in self.forms:
            data = form.cleaned_data
            if not data or data.get("DELETE") or data.get("start") is None or data.get("end") is None:
                continue
            end = time.max if data["end"] == time(0) else data["end"]
            periods.setdefault(data["weekday"], []).append((data["start"], end))
        for day, spans in periods.items():
            spans.sort()
            for (_start, first_end), (second_start, _end) in zip(spans, spans[1:], strict=False):
                if second_start < first_end:
                    raise ValidationError(_("Two working periods overlap on day %(day)s.") % {"day": day + 1})
        if not periods and not getattr(self.instance, "around_the_clock", False):
            raise ValidationError(_("A calendar needs at least one working period, or the 24×7 box ticked."))
