"""Admin of runbooks: connections (the credential is write-only), runbooks and their versions
(published ones read-only), executions (read-only), settings."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from itsm.models import User
from runbooks import actions
from runbooks.models import (
    APPROVER_ROLES,
    ApproverLead,
    ExecutionStep,
    InfrastructureConnection,
    Runbook,
    RunbookExecution,
    RunbookSettings,
    RunbookVersion,
)


class ConnectionForm(forms.ModelForm):
    secret = forms.CharField(
        label=_("credential"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text=_(
            "SSH private key or password, HTTP auth header value, webhook signing secret. Stored encrypted; "
            "never shown again. Leave empty to keep the stored one."
        ),
    )
    clear_secret = forms.BooleanField(label=_("remove the stored credential"), required=False)
    base_url = forms.URLField(label=_("base URL"), required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = InfrastructureConnection
        fields = list(actions.CONNECTION_FIELDS) + ["items"]


@admin.register(InfrastructureConnection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["name", "kind", "enabled", "endpoint", "has_secret", "secret_set_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "host", "base_url"]
    autocomplete_fields = ["items"]
    readonly_fields = ["secret_set_at"]

    @admin.display(boolean=True, description=_("credential stored"))
    def has_secret(self, connection: InfrastructureConnection) -> bool:
        return connection.has_secret

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        secret = "" if data.get("clear_secret") else (data.get("secret") or None)
        values = {name: data[name] for name in actions.CONNECTION_FIELDS if name in data}
        existing = InfrastructureConnection.objects.get(pk=obj.pk) if change else None
        try:
            saved = actions.do_save_connection(existing, actor=request.user, values=values, secret=secret)
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
            raise
        obj.pk = saved.pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        form.instance = InfrastructureConnection.objects.get(pk=form.instance.pk)
        super().save_related(request, form, formsets, change)


class VersionInline(admin.StackedInline):
    model = RunbookVersion
    extra = 0
    can_delete = False
    fields = [
        "number",
        "status",
        "match",
        "parameters",
        "steps",
        "needs_approval",
        "safe_for_auto",
        "allowed_environments",
        "allow_self_approval",
        "resolve_on_success",
        "published_at",
    ]
    readonly_fields = ["number", "status", "published_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.fields  # edited through the API or the draft action below; shown here

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RunbookForm(forms.ModelForm):
    """Who approves is written by ``do_set_approvers`` (checked, audited), not by the form."""

    approvers_roles = forms.MultipleChoiceField(
        label=_("approver roles"),
        choices=[(role.value, role.label) for role in APPROVER_ROLES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Every active user of these roles may approve an execution."),
    )
    approvers_team_leads = forms.MultipleChoiceField(
        label=_("team leads who approve"),
        choices=ApproverLead.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    approvers_users = forms.ModelMultipleChoiceField(
        label=_("named approvers"),
        queryset=User.objects.filter(is_active=True, role__in=list(APPROVER_ROLES)).order_by("email"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    class Meta:
        model = Runbook
        fields = ["name", "description", "owner_team", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        runbook = self.instance
        # Not the model's own field names: the form must not write them (do_set_approvers does).
        if runbook.pk:
            self.initial["approvers_users"] = list(runbook.approver_users.all())
        self.initial["approvers_roles"] = list(runbook.approver_roles)
        self.initial["approvers_team_leads"] = list(runbook.approver_leads)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            self.approvers = actions.check_approvers(
                list(data.get("approvers_roles") or []),
                list(data.get("approvers_team_leads") or []),
                list(data.get("approvers_users") or []),
            )
        except ValidationError as error:
            for name, messages_ in error.message_dict.items():
                # "approvers.roles" → the approvers_roles field; "approvers" → the whole form.
                field = name.replace(".", "_") if "." in name else None
                self.add_error(field, messages_)
        return data


@admin.register(Runbook)
class RunbookAdmin(admin.ModelAdmin):
    form = RunbookForm
    list_display = ["name", "owner_team", "active", "created_at"]
    list_filter = ["active", "owner_team"]
    search_fields = ["name", "description"]
    fieldsets = [
        (None, {"fields": ["name", "description", "owner_team", "active"]}),
        (_("Approvers"), {"fields": ["approvers_roles", "approvers_team_leads", "approvers_users"]}),
    ]
    inlines = [VersionInline]
    actions = ["publish_draft"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        actions.do_set_approvers(form.instance, actor=request.user, approvers=form.approvers)

    @admin.action(description=_("Publish the draft"))
    def publish_draft(self, request: HttpRequest, queryset: Any) -> None:
        for runbook in queryset:
            try:
                version = actions.do_publish_runbook(runbook, actor=request.user)
            except (actions.ExecutionConflict, ValidationError) as error:
                messages.error(request, f"{runbook}: {getattr(error, 'message', error)}")
            else:
                messages.success(request, f"{runbook}: v{version.number} published.")


class StepInline(admin.TabularInline):
    model = ExecutionStep
    extra = 0
    can_delete = False
    fields = [
        "position",
        "name",
        "type",
        "connection",
        "status",
        "exit_code",
        "http_status",
        "rollback_status",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RunbookExecution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ["id", "runbook", "ticket", "item", "status", "created_at"]
    list_filter = ["status", "runbook"]
    list_select_related = ["runbook", "ticket", "item"]
    inlines = [StepInline]
    readonly_fields = [field.name for field in RunbookExecution._meta.concrete_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RunbookSettings)
class SettingsAdmin(admin.ModelAdmin):
    list_display = ["mode", "threshold", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RunbookSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
