from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from changes.models import ChangeOutcome, ChangeRequest, ChangeType, Level
from cmdb.models import ConfigurationItem
from itsm.models import Team, User
from problems.models import Problem
from tickets.models import Ticket

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def split_names(value: str) -> list[str]:
    return list(dict.fromkeys(name.strip() for name in (value or "").split(",") if name.strip()))


def _by_names(model: Any, field: str, names: list[str], label: str, queryset: Any = None) -> list[Any]:
    if not names:
        return []
    if len(names) > 50:
        raise forms.ValidationError(_("At most 50."))
    lookup = Q()
    for name in names:
        lookup |= Q(**{f"{field}__iexact": name})
    found = {getattr(obj, field).lower(): obj for obj in (queryset or model.objects).filter(lookup)}
    missing = [name for name in names if name.lower() not in found]
    if missing:
        raise forms.ValidationError(_("Not found: %(names)s.") % {"names": ", ".join(missing)})
    return list(found.values())


class ChangeForm(forms.Form):
    type = forms.ChoiceField(label=_("Type"), choices=ChangeType.choices, initial=ChangeType.NORMAL)
    title = forms.CharField(label=_("Title"), max_length=255)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    reason = forms.CharField(
        label=_("Reason for the change"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    likelihood = forms.ChoiceField(label=_("Likelihood of failure"), choices=Level.choices)
    impact = forms.ChoiceField(label=_("Impact"), choices=Level.choices)
    planned_start = forms.DateTimeField(
        label=_("Planned start"),
        required=False,
        input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT),
    )
    planned_end = forms.DateTimeField(
        label=_("Planned end"),
        required=False,
        input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT),
    )
    affected_items = forms.CharField(
        label=_("Affected configuration items"), required=False, help_text=_("Names, separated by commas.")
    )
    services = forms.CharField(
        label=_("Affected services"), required=False, help_text=_("Separated by commas.")
    )
    implementation_plan = forms.CharField(
        label=_("Implementation plan"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    backout_plan = forms.CharField(
        label=_("Back-out plan"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    test_plan = forms.CharField(
        label=_("Test plan"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    problems = forms.CharField(
        label=_("Problems addressed"), required=False, help_text=_("Numbers, separated by commas.")
    )
    incidents = forms.CharField(
        label=_("Incidents addressed"), required=False, help_text=_("Numbers, separated by commas.")
    )
    assignee = forms.ModelChoiceField(label=_("Assignee"), queryset=User.objects.none(), required=False)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.order_by("name"), required=False)

    def __init__(self, *args: Any, user: User, change: ChangeRequest | None = None, **kwargs: Any) -> None:
        if change is not None:
            kwargs.setdefault(
                "initial",
                {
                    **{
                        name: getattr(change, name)
                        for name in (
                            "type",
                            "title",
                            "description",
                            "reason",
                            "likelihood",
                            "impact",
                            "implementation_plan",
                            "backout_plan",
                            "test_plan",
                            "planned_start",
                            "planned_end",
                        )
                    },
                    "affected_items": ", ".join(item.name for item in change.affected_items.all()),
                    "services": ", ".join(change.services),
                    "problems": ", ".join(problem.number for problem in change.problems.all()),
                    "incidents": ", ".join(ticket.number for ticket in change.incidents.visible_to(user)),
                    "assignee": change.assignee_id,
                    "team": change.team_id,
                },
            )
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["assignee"].queryset = User.objects.active().staff_roles().order_by("email")

    def clean_affected_items(self) -> list[ConfigurationItem]:
        return _by_names(ConfigurationItem, "name", split_names(self.cleaned_data["affected_items"]), "item")

    def clean_services(self) -> list[str]:
        return split_names(self.cleaned_data["services"])

    def clean_problems(self) -> list[Problem]:
        return _by_names(Problem, "number", split_names(self.cleaned_data["problems"]), "problem")

    def clean_incidents(self) -> list[Ticket]:
        visible = Ticket.objects.visible_to(self.user)
        return _by_names(Ticket, "number", split_names(self.cleaned_data["incidents"]), "ticket", visible)


class TransitionForm(forms.Form):
    status = forms.CharField(max_length=12)
    reason = forms.CharField(max_length=500, required=False)
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("", "—"), *ChangeOutcome.choices], required=False
    )
    resolve_problems = forms.BooleanField(
        label=_("Resolve the problems it addressed whose fix is recorded"), required=False
    )


class AcceptConflictsForm(forms.Form):
    reason = forms.CharField(label=_("Why the conflicts are acceptable"), max_length=500)
