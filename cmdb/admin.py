from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from cmdb import actions
from cmdb.models import (
    CmdbSettings,
    ConfigurationItem,
    ItemRelation,
    ItemSuggestion,
    TicketItem,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ItemForm(forms.ModelForm):
    """Lists are typed one per line; the rules are the actions' (``clean_item_fields``)."""

    aliases = forms.CharField(label=_("aliases"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    hostnames = forms.CharField(
        label=_("host names"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    ip_addresses = forms.CharField(
        label=_("IP addresses"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    maintenance_windows = forms.CharField(
        label=_("maintenance windows"),
        required=False,
        help_text=_("One per line: sun 02:00-04:00 (an end before the start runs past midnight)."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    class Meta:
        model = ConfigurationItem
        fields = [
            "name",
            "type",
            "environment",
            "status",
            "owner_team",
            "description",
            "attributes",
            "aliases",
            "hostnames",
            "ip_addresses",
            "maintenance_windows",
            "timezone",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        item = self.instance
        if item.pk:
            self.initial["aliases"] = "\n".join(item.aliases)
            self.initial["hostnames"] = "\n".join(item.hostnames)
            self.initial["ip_addresses"] = "\n".join(str(address) for address in item.ip_addresses)
            self.initial["maintenance_windows"] = "\n".join(str(window) for window in item.windows())

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        values = {name: data.get(name) for name in self.Meta.fields if name in data}
        try:
            self.cleaned_values = actions.clean_item_fields(values)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
            # The model must not see the text forms of its lists (the form is shown again).
            for name in ("aliases", "hostnames", "ip_addresses", "maintenance_windows", "attributes"):
                data.pop(name, None)
            return data
        data.update(self.cleaned_values)  # lists and objects, as the model holds them
        return data


class RelationInline(admin.TabularInline):
    model = ItemRelation
    fk_name = "source"
    extra = 0
    fields = ["kind", "target", "created_by", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConfigurationItem)
class ConfigurationItemAdmin(admin.ModelAdmin):
    form = ItemForm
    list_display = ["name", "type", "environment", "status", "owner_team", "updated_at"]
    list_filter = ["type", "environment", "status", "owner_team"]
    search_fields = ["name"]
    list_select_related = ["owner_team"]
    autocomplete_fields = ["owner_team"]
    inlines = [RelationInline]

    def save_model(self, request: HttpRequest, obj: ConfigurationItem, form: ItemForm, change: bool) -> None:
        # Through the actions: the same rules, and the history records who changed what.
        values = form.cleaned_values
        if change:
            stored = ConfigurationItem.objects.get(pk=obj.pk)
            actions.do_update_item(stored, actor=request.user, fields=values)
        else:
            obj.pk = actions.do_create_item(actor=request.user, **values).pk

    def delete_model(self, request: HttpRequest, obj: ConfigurationItem) -> None:
        actions.do_delete_item(obj, actor=request.user)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        in_use = [item.name for item in objs if item.ticket_links.exists()]
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        return (
            deleted,
            model_count,
            perms_needed,
            [*protected, *(f"{name}: linked to tickets" for name in in_use)],
        )


@admin.register(ItemRelation)
class ItemRelationAdmin(ReadOnlyAdmin):
    list_display = ["source", "kind", "target", "created_by", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["source", "target", "created_by"]
    search_fields = ["source__name", "target__name"]


@admin.register(TicketItem)
class TicketItemAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "item", "role", "source", "linked_by", "linked_at"]
    list_filter = ["role", "source"]
    list_select_related = ["ticket", "item", "linked_by"]
    search_fields = ["ticket__number", "item__name"]


@admin.register(ItemSuggestion)
class ItemSuggestionAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "item", "hostname", "match_kind", "matched_text", "status", "created_at"]
    list_filter = ["status", "match_kind"]
    list_select_related = ["ticket", "item"]
    search_fields = ["ticket__number", "item__name", "hostname"]


@admin.register(CmdbSettings)
class CmdbSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "link_exact_matches", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not CmdbSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
