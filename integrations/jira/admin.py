"""Jira in the admin: the mappings (editable), and the sync state, receipts and pushes (read,
retry). Admin actions call the same task helpers as the worker."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from integrations.jira.models import (
    AccountMapping,
    ChangeState,
    FieldMapping,
    IssueTypeMapping,
    JiraComment,
    JiraLink,
    OutboundChange,
    PriorityMapping,
    ProjectKey,
    ReceiptState,
    ReconcileRun,
    StatusMapping,
    WebhookReceipt,
)
from integrations.jira.queueing import defer_push, defer_receipt


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StatusMapping)
class StatusMappingAdmin(admin.ModelAdmin):
    list_display = ["jira_status", "local_status", "push"]
    list_editable = ["local_status", "push"]
    list_filter = ["local_status", "push"]
    search_fields = ["jira_status"]


@admin.register(PriorityMapping)
class PriorityMappingAdmin(admin.ModelAdmin):
    list_display = ["jira_priority", "jira_id", "local_priority", "push"]
    list_editable = ["jira_id", "local_priority", "push"]
    search_fields = ["jira_priority"]


@admin.register(IssueTypeMapping)
class IssueTypeMappingAdmin(admin.ModelAdmin):
    list_display = ["jira_issue_type", "jira_id", "ticket_type", "push"]
    list_editable = ["jira_id", "ticket_type", "push"]
    search_fields = ["jira_issue_type"]


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    list_display = ["jira_field", "local_field", "direction"]
    list_editable = ["local_field", "direction"]
    list_filter = ["local_field", "direction"]
    search_fields = ["jira_field"]


@admin.register(AccountMapping)
class AccountMappingAdmin(admin.ModelAdmin):
    list_display = ["account_id", "display_name", "user"]
    search_fields = ["account_id", "display_name", "user__email"]
    autocomplete_fields = ["user"]


@admin.register(ProjectKey)
class ProjectKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "detected", "created_at"]


@admin.register(JiraLink)
class JiraLinkAdmin(ReadOnlyAdmin):
    list_display = [
        "issue_key",
        "ticket",
        "origin",
        "last_seen_updated",
        "last_synced_at",
        "sla_synced_at",
        "deleted_at",
    ]
    list_filter = ["origin", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["issue_key", "issue_id", "ticket__number"]
    list_select_related = ["ticket"]
    raw_id_fields = ["ticket"]


@admin.register(JiraComment)
class JiraCommentAdmin(ReadOnlyAdmin):
    list_display = ["jira_comment_id", "link", "comment", "origin", "last_seen_updated", "deleted_at"]
    list_filter = ["origin"]
    search_fields = ["jira_comment_id", "link__issue_key"]
    list_select_related = ["link"]
    raw_id_fields = ["link", "comment"]


@admin.register(WebhookReceipt)
class WebhookReceiptAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event", "issue_key", "state", "attempts", "retry_count", "result"]
    list_filter = ["state", "event"]
    search_fields = ["identifier", "issue_key", "issue_id"]
    date_hierarchy = "received_at"
    actions = ["process_again"]

    @admin.action(description=_("Process the selected deliveries again"))
    def process_again(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        WebhookReceipt.objects.filter(pk__in=ids).update(state=ReceiptState.PENDING, result="")
        count = sum(defer_receipt(pk) for pk in ids)
        self.message_user(
            request, ngettext("%d delivery queued.", "%d deliveries queued.", count) % count, messages.SUCCESS
        )


@admin.register(OutboundChange)
class OutboundChangeAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "ticket",
        "kind",
        "target_status",
        "state",
        "attempts",
        "last_error",
        "done_at",
    ]
    list_filter = ["state", "kind"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket"]
    raw_id_fields = ["ticket", "comment"]
    actions = ["retry"]

    @admin.action(description=_("Retry the selected changes"))
    def retry(self, request, queryset):
        ticket_ids = set(queryset.values_list("ticket_id", flat=True))
        # A retried create brings back the replies and status changes it had skipped.
        OutboundChange.objects.filter(
            ticket_id__in=ticket_ids, state__in=[ChangeState.FAILED, ChangeState.SKIPPED]
        ).update(state=ChangeState.PENDING, last_error="")
        for ticket_id in ticket_ids:
            defer_push(ticket_id)
        self.message_user(
            request,
            ngettext("%d ticket queued.", "%d tickets queued.", len(ticket_ids)) % len(ticket_ids),
            messages.SUCCESS,
        )


@admin.register(ReconcileRun)
class ReconcileRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "trigger",
        "since",
        "ok",
        "pages",
        "created",
        "updated",
        "unchanged",
        "skipped",
    ]
    list_filter = ["trigger", "ok"]
