from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cmdb.models import ConfigurationItem
from itsm.models import Team, User
from problems.models import Problem, ProblemStatus
from tickets.models import Category
from tickets.models.priority import Priority


class ProblemForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=255)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea, required=False)


def item_names(value: str) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


class ProblemEditForm(forms.Form):
    """Everything an agent edits on a problem; the action records each change in its history."""

    title = forms.CharField(label=_("Title"), max_length=255)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}), required=False
    )
    status = forms.ChoiceField(label=_("Status"), choices=ProblemStatus.choices)
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.order_by("name"), required=False)
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.order_by("name"), required=False
    )
    affected_items = forms.CharField(
        label=_("Affected configuration items"),
        required=False,
        help_text=_("Names, separated by commas."),
    )
    root_cause = forms.CharField(
        label=_("Root cause"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    workaround = forms.CharField(
        label=_("Workaround"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    fix = forms.CharField(label=_("Permanent fix"), widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args: Any, problem: Problem, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "title": problem.title,
                "description": problem.description,
                "status": problem.status,
                "priority": problem.priority,
                "owner": problem.owner_id,
                "team": problem.team_id,
                "category": problem.category_id,
                "affected_items": ", ".join(item.name for item in problem.affected_items.all()),
                "root_cause": problem.root_cause,
                "workaround": problem.workaround,
                "fix": problem.fix,
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.active().staff_roles().order_by("email")

    def clean_affected_items(self) -> list[ConfigurationItem]:
        names = item_names(self.cleaned_data["affected_items"])
        if not names:
            return []
        if len(names) > 50:
            raise forms.ValidationError(_("At most 50 items."))
        lookup = Q()
        for name in names:
            lookup |= Q(name__iexact=name)
        found = {item.name.lower(): item for item in ConfigurationItem.objects.filter(lookup)}
        missing = [name for name in names if name.lower() not in found]
        if missing:
            raise forms.ValidationError(
                _("No configuration item named %(names)s.") % {"names": ", ".join(missing)}
            )
        return list(found.values())


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Internal note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=10000
    )


class MergeForm(forms.Form):
    into = forms.CharField(label=_("Merge into (number)"), max_length=20)


class DismissForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)
