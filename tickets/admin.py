"""Tickets in the Django admin: settings-like data (categories, catalog, priority matrix,
saved views) is edited here; tickets, comments and the audit trail are read here (tickets
change through the pages and the API, which go through ``tickets.actions``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from tickets import actions
from tickets.models import (
    AccessChannel,
    ApproverSource,
    CatalogItem,
    Category,
    Comment,
    DeskSettings,
    ExportJob,
    Macro,
    PriorityRule,
    SatisfactionSurvey,
    SavedView,
    SensitiveAccess,
    Ticket,
    TicketRelation,
    WorkLog,
)
from tickets.models.priority import DEFAULT_MATRIX

TicketAudit = apps.get_model("tickets", "TicketAudit")
CommentRevision = apps.get_model("tickets", "CommentRevision")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the product (or by database triggers): looked at, never edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CommentInline(admin.TabularInline):
    model = Comment
    fk_name = "ticket"
    fields = ["created_at", "author", "author_label", "internal", "source", "body"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "title",
        "status",
        "priority",
        "type",
        "team",
        "assignee",
        "requester",
        "created_at",
        "sensitive",
        "archived",
    ]
    list_filter = ["status", "priority", "type", "archived", "sensitive", "channel", "team", "category"]
    search_fields = ["=number", "title"]
    list_select_related = ["team", "assignee", "requester"]
    # A million tickets: no exact COUNT(*) on every changelist page.
    show_full_result_count = False
    ordering = ["-created_at", "-id"]
    inlines = [CommentInline]
    actions = ["archive_selected", "unarchive_selected"]
    fieldsets = (
        (None, {"fields": ("number", "type", "title", "description", "status", "resolution")}),
        (
            _("Priority"),
            {"fields": ("impact", "urgency", "priority", "priority_overridden", "priority_reason")},
        ),
        (_("Routing"), {"fields": ("category", "service", "channel", "team", "assignee", "tags")}),
        (_("People"), {"fields": ("requester", "organisation", "created_by")}),
        (
            _("Flags"),
            {
                "fields": (
                    "sensitive",
                    "archived",
                    "external_key",
                    "linked_entity_type",
                    "linked_entity_id",
                    "metadata",
                )
            },
        ),
        (
            _("Dates"),
            {
                "fields": (
                    "created_at",
                    "updated_at",
                    "first_response_at",
                    "resolved_at",
                    "closed_at",
                    "reopen_count",
                    "version",
                )
            },
        ),
        (_("Audit trail"), {"fields": ("audit_trail_table",)}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Ticket._meta.fields if field.name != "search_vector"] + [
            "audit_trail_table"
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # archive instead (a database trigger refuses DELETE anyway)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        ticket = Ticket.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if ticket is not None:
            actions.do_record_sensitive_view(ticket, request.user, channel=AccessChannel.ADMIN)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("changes"))
    def audit_trail_table(self, ticket: Ticket) -> str:
        changes = ticket.audit_trail()
        if not changes:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{c.at:%Y-%m-%d %H:%M:%S}",
                    c.actor or "—",
                    c.field,
                    "" if c.old is None else c.old,
                    "" if c.new is None else c.new,
                    c.reason,
                )
                for c in changes
            ),
        )
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            _("at"),
            _("actor"),
            _("field"),
            _("old"),
            _("new"),
            _("reason"),
            rows,
        )

    @admin.action(description=_("Archive selected tickets"))
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        count = 0
        for ticket in queryset.filter(archived=False):
            actions.do_archive_ticket(ticket, actor=request.user, reason="archived in the admin")
            count += 1
        self.message_user(request, _("%(count)d ticket(s) archived.") % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Unarchive selected tickets"))
    def unarchive_selected(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        count = 0
        for ticket in queryset.filter(archived=True):
            actions.do_unarchive_ticket(ticket, actor=request.user, reason="unarchived in the admin")
            count += 1
        self.message_user(request, _("%(count)d ticket(s) unarchived.") % {"count": count}, messages.SUCCESS)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "default_team", "keywords", "active"]
    list_filter = ["active", "default_team"]
    list_editable = ["active"]
    search_fields = ["name", "keywords"]
    autocomplete_fields = ["parent", "default_team"]
    fields = ["name", "parent", "default_team", "keywords", "active"]


class MacroAdminForm(forms.ModelForm):
    class Meta:
        model = Macro
        fields = [
            "name",
            "body",
            "internal",
            "visibility",
            "owner",
            "team",
            "set_status",
            "resolution",
            "set_priority",
            "priority_reason",
            "assign_to_me",
            "set_assignee",
            "set_team",
            "add_tags",
            "active",
        ]

    def clean_body(self) -> str:
        body = self.cleaned_data.get("body") or ""
        try:
            actions.check_macro_body(body)  # the sandbox's syntax check: a broken macro is refused here
        except forms.ValidationError as error:
            raise forms.ValidationError(error.messages) from None
        return body


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    """Shared macros are kept here by admins; agents keep their own through the API."""

    form = MacroAdminForm
    list_display = [
        "name",
        "visibility",
        "owner",
        "team",
        "set_status",
        "usage_count",
        "last_used_at",
        "active",
    ]
    list_filter = ["visibility", "active", "team"]
    search_fields = ["name", "body"]
    autocomplete_fields = ["owner", "team", "set_assignee", "set_team"]
    readonly_fields = ["usage_count", "last_used_at", "created_at", "updated_at"]


@admin.register(DeskSettings)
class DeskSettingsAdmin(admin.ModelAdmin):
    """One row: surveys on or off, the share surveyed, who hears of low scores."""

    list_display = [
        "__str__",
        "survey_enabled",
        "survey_sample_percent",
        "auto_close_days",
        "notify_lead_at_or_below",
        "reopen_at_or_below",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not DeskSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SatisfactionSurvey)
class SatisfactionSurveyAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "requester", "sent_at", "score", "answered_at"]
    list_filter = ["score"]
    search_fields = ["ticket__number", "requester__email"]


@admin.register(WorkLog)
class WorkLogAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "user", "minutes", "billable", "worked_at"]
    list_filter = ["billable"]
    search_fields = ["ticket__number", "user__email", "note"]


class CatalogItemForm(forms.ModelForm):
    """The admin's fieldsets choose the fields; this adds the check that needs the M2M value."""

    class Meta:
        model = CatalogItem
        exclude: list[str] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (
            data.get("requires_approval")
            and data.get("approver_source") == ApproverSource.USERS
            and not data.get("approver_users")
        ):
            self.add_error("approver_users", _("Name at least one approver."))
        return data


@admin.register(CatalogItem)
class CatalogItemAdmin(admin.ModelAdmin):
    """``fields`` is checked on save (``CatalogItem.clean``): a bad definition is refused with
    the list of what is wrong, field by field."""

    list_display = [
        "name",
        "slug",
        "default_category",
        "default_team",
        "default_impact",
        "default_urgency",
        "requires_approval",
        "active",
        "order",
    ]
    list_filter = ["active", "requires_approval", "default_category", "default_team"]
    list_editable = ["active", "order"]
    search_fields = ["name", "description"]
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ["default_category", "default_team", "approver_users"]
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "active", "order")}),
        (
            _("Form"),
            {
                "fields": ("fields",),
                "description": _(
                    'A JSON list, one object per field: {"name": "laptop_model", "label": "Laptop model", '
                    '"type": "choice", "required": true, "choices": ["13 inch", "15 inch"]}. Types: text, textarea, '
                    "number, date, choice, boolean, email. Optional keys: help, max_length (text), min and max "
                    "(number)."
                ),
            },
        ),
        (
            _("Defaults of the request"),
            {"fields": ("default_category", "default_team", "default_impact", "default_urgency")},
        ),
        (
            _("Approval"),
            {
                "fields": (
                    "requires_approval",
                    "approver_source",
                    "approver_role",
                    "approver_users",
                    "approvals_needed",
                ),
                "description": _(
                    "A request from an item that requires approval waits in “Pending approval” (its SLA "
                    "clocks paused) until its approvers decide: approved, it reaches the desk as new; "
                    "rejected, it is cancelled and the requester sees why. The requester never approves "
                    "their own request; when the item names no one else, admins decide."
                ),
            },
        ),
    )
    form = CatalogItemForm


@admin.register(PriorityRule)
class PriorityRuleAdmin(admin.ModelAdmin):
    """Cells of the impact × urgency matrix; a missing cell uses the ITIL default."""

    list_display = ["impact", "urgency", "priority", "itil_default"]
    list_editable = ["priority"]
    list_filter = ["impact", "urgency", "priority"]

    @admin.display(description=_("ITIL default"))
    def itil_default(self, rule: PriorityRule) -> str:
        return DEFAULT_MATRIX[(rule.impact, rule.urgency)]


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "owner", "order"]
    list_filter = [("owner", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug", "owner__email"]
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ["owner"]


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "requested_by", "format", "status", "row_count", "created_at", "finished_at"]
    list_filter = ["status", "format"]
    search_fields = ["requested_by__email"]
    list_select_related = ["requested_by"]


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "author_display", "internal", "source", "created_at"]
    list_filter = ["internal", "source"]
    search_fields = ["=ticket__number", "body", "author__email", "author_label"]
    list_select_related = ["ticket", "author"]
    show_full_result_count = False


@admin.register(TicketRelation)
class TicketRelationAdmin(ReadOnlyAdmin):
    list_display = ["source", "kind", "target", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["=source__number", "=target__number"]
    list_select_related = ["source", "target", "created_by"]


@admin.register(CommentRevision)
class CommentRevisionAdmin(ReadOnlyAdmin):
    """A comment's earlier texts, one row per edit (append-only, written by a database trigger)."""

    list_display = ["pgh_created_at", "pgh_obj", "internal", "body", "pgh_context"]
    search_fields = ["=pgh_obj__ticket__number", "body"]
    list_select_related = ["pgh_obj"]
    show_full_result_count = False


@admin.register(TicketAudit)
class TicketAuditAdmin(ReadOnlyAdmin):
    """The immutable audit trail (database triggers refuse UPDATE and DELETE)."""

    list_display = [
        "pgh_created_at",
        "pgh_obj",
        "pgh_label",
        "status",
        "priority",
        "assignee",
        "team",
        "category",
        "sensitive",
        "pgh_context",
    ]
    list_filter = ["pgh_label", "status", "priority"]
    search_fields = ["=pgh_obj__number"]
    list_select_related = ["pgh_obj", "assignee", "team", "category"]
    show_full_result_count = False


@admin.register(SensitiveAccess)
class SensitiveAccessAdmin(ReadOnlyAdmin):
    """Every view of a sensitive ticket (append-only)."""

    list_display = ["at", "user_email", "ticket", "channel"]
    list_filter = ["channel"]
    search_fields = ["user_email", "=ticket__number"]
    list_select_related = ["ticket"]
