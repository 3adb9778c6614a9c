"""Forms validate and shape data only; the views call ``ai.knowledge.actions``."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from ai.knowledge.models import ArticleStatus, Audience, JiraKnowledgeProject, KnowledgeArticle, SourceType
from tickets.models import Category


class ArticleForm(forms.ModelForm):
    class Meta:
        model = KnowledgeArticle
        fields = ["title", "body", "category", "audience", "status"]
        widgets = {"body": forms.Textarea(attrs={"rows": 18})}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = Category.objects.filter(active=True).order_by("name")
        self.fields["category"].required = False


class ArticleFilterForm(forms.Form):
    q = forms.CharField(label=_("Title contains"), required=False, max_length=200)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any")), *ArticleStatus.choices]
    )
    audience = forms.ChoiceField(
        label=_("Audience"), required=False, choices=[("", _("Any")), *Audience.choices]
    )


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=2000)
    sources = forms.MultipleChoiceField(
        label=_("In"), required=False, choices=SourceType.choices, widget=forms.CheckboxSelectMultiple
    )


class VoteForm(forms.Form):
    helpful = forms.TypedChoiceField(
        choices=[("yes", _("Yes")), ("no", _("No"))], coerce=lambda value: value == "yes"
    )


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Reply"), widget=forms.Textarea(attrs={"rows": 14}), max_length=20000)


class ProjectKeyField(forms.CharField):
    """A Jira project key as typed, in capitals (``hist`` → ``HIST``) before it is validated."""

    def to_python(self, value: object) -> str:
        return super().to_python(value).strip().upper()


class JiraKnowledgeProjectForm(forms.ModelForm):
    class Meta:
        model = JiraKnowledgeProject
        fields = ["key", "audience", "organisation", "enabled"]
        field_classes = {"key": ProjectKeyField}
