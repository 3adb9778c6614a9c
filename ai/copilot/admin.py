"""Copilot runs in the admin: read-only (the rows are append-only), with each run's steps and
proposals inline; the full trace page with replay is linked from each run."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ai.copilot.models import CopilotProposal, CopilotRun, CopilotStep, QuickFixCalibration


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class StepInline(ReadOnlyInline):
    model = CopilotStep
    fields = ["position", "tool", "arguments", "result_ids", "digest", "error", "latency_ms", "tokens"]
    readonly_fields = fields


class ProposalInline(ReadOnlyInline):
    model = CopilotProposal
    fields = ["action", "arguments", "label", "decision_outcome"]
    readonly_fields = fields

    @admin.display(description=_("decision"))
    def decision_outcome(self, proposal: CopilotProposal) -> str:
        decision = getattr(proposal, "decision", None)
        return decision.get_outcome_display() if decision else "—"


@admin.register(CopilotRun)
class CopilotRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "user",
        "source",
        "question_short",
        "planner",
        "intent",
        "status",
        "latency_ms",
    ]
    list_filter = ["status", "planner", "source", "intent", "steps__tool"]
    search_fields = ["question", "user__email"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    inlines = [StepInline, ProposalInline]
    readonly_fields = [
        "trace_link", "user", "source", "ticket", "question", "planner", "model", "intent", "plan", "status",
        "answer", "citations", "note", "latency_ms", "replay_of", "diff", "created_at",
    ]  # fmt: skip
    fields = readonly_fields

    @admin.display(description=_("question"))
    def question_short(self, run: CopilotRun) -> str:
        return run.question[:80]

    @admin.display(description=_("trace"))
    def trace_link(self, run: CopilotRun) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("ai:copilot-run", args=[run.pk]), _("Trace and replay")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(QuickFixCalibration)
class QuickFixCalibrationAdmin(admin.ModelAdmin):
    """The quick fix's calibrations (``ai_train`` and the nightly training fit them): read-only."""

    list_display = ["version", "fitted_at", "is_active", "rows", "seconds"]
    list_filter = ["is_active"]
    readonly_fields = [
        "version",
        "fitted_at",
        "is_active",
        "rows",
        "metrics",
        "points",
        "seconds",
        "last_ticket_resolved_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
