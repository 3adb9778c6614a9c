"""Forms of the configuration-item pages: they validate and shape input only."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from cmdb.models import Environment, ItemStatus, ItemType, LinkRole
from itsm.models import Team


def _with_any(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", _("Any")), *choices]


class ItemFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    type = forms.ChoiceField(label=_("Type"), required=False, choices=_with_any(ItemType.choices))
    environment = forms.ChoiceField(
        label=_("Environment"), required=False, choices=_with_any(Environment.choices)
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=_with_any(ItemStatus.choices))
    owner_team = forms.ModelChoiceField(
        label=_("Owner team"), required=False, queryset=Team.objects.order_by("name"), empty_label=_("Any")
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update(
            {"placeholder": _("Name, alias, host or address"), "type": "search"}
        )


class TicketLinkForm(forms.Form):
    item = forms.CharField(
        label=_("Item"),
        max_length=253,
        help_text=_("Its name, an alias, a host name or an address."),
    )
    role = forms.ChoiceField(label=_("Role"), choices=LinkRole.choices, initial=LinkRole.AFFECTED)
