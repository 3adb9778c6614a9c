from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from runbooks.models import ExecutionMode


class SettingsForm(forms.Form):
    mode = forms.ChoiceField(
        label=_("Execution mode"), choices=ExecutionMode.choices, widget=forms.RadioSelect
    )
    threshold = forms.FloatField(
        label=_("Confidence threshold"),
        min_value=0.0,
        max_value=1.0,
        help_text=_(
            "In automatic mode, a new ticket's best runbook runs without a human from this confidence (0–1)."
        ),
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    comment = forms.CharField(label=_("Comment"), required=False, max_length=2000)
