from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from itsm.approvals import registry
from itsm.approvals.models import ApprovalApprover, ApprovalDecision, ApprovalRequest


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApproverInline(ReadOnlyInline):
    model = ApprovalApprover
    fields = ["user"]
    readonly_fields = fields


class DecisionInline(ReadOnlyInline):
    model = ApprovalDecision
    fields = ["approver", "verdict", "comment", "channel", "decided_at"]
    readonly_fields = fields


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    """Requests are made and decided by the product (pages, API, consumers): read here."""

    list_display = [
        "id",
        "summary",
        "kind",
        "target_label",
        "status",
        "approval_count",
        "quorum",
        "created_at",
    ]
    list_filter = ["status", "kind", "target_type"]
    search_fields = ["summary", "requested_by__email"]
    list_select_related = ["target_type", "requested_by"]
    inlines = [ApproverInline, DecisionInline]
    readonly_fields = [field.name for field in ApprovalRequest._meta.concrete_fields] + ["target_label"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("target")

    @admin.display(description=_("target"))
    def target_label(self, approval: ApprovalRequest) -> str:
        return registry.describe(approval).label

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(admin.ModelAdmin):
    """Append-only: decisions are never changed or deleted."""

    list_display = ["request", "approver", "verdict", "channel", "decided_at"]
    list_filter = ["verdict", "channel"]
    search_fields = ["approver__email", "comment"]
    list_select_related = ["request", "approver"]
    readonly_fields = ["request", "approver", "verdict", "comment", "channel", "decided_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
