from django import forms
from django.utils.translation import gettext_lazy as _

from problems.models import Problem, ProblemStatus


class ProblemForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=255)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea, required=False)


class ProblemUpdateForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=ProblemStatus.choices)
    root_cause = forms.CharField(label=_("Root cause"), widget=forms.Textarea, required=False)
    workaround = forms.CharField(label=_("Workaround"), widget=forms.Textarea, required=False)
    fix = forms.CharField(label=_("Permanent fix"), widget=forms.Textarea, required=False)

    def __init__(self, *args: object, problem: Problem, **kwargs: object) -> None:
        kwargs.setdefault(
            "initial",
            {
                "status": problem.status,
                "root_cause": problem.root_cause,
                "workaround": problem.workaround,
                "fix": problem.fix,
            },
        )
        super().__init__(*args, **kwargs)
