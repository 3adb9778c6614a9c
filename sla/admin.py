from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from sla import actions
from sla.forms import EscalationStepFormSet, SLAPolicyForm, WorkingPeriodFormSet
from sla.models import (
    Calendar,
    EscalationStep,
    Holiday,
    SLAEvent,
    SLAPolicy,
    SLARiskEvaluation,
    SLARiskModel,
    TicketSLA,
    TierMultiplier,
    WorkingPeriod,
)


class WorkingPeriodInline(admin.TabularInline):
    model = WorkingPeriod
    formset = WorkingPeriodFormSet
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "around_the_clock", "builtin"]
    inlines = [WorkingPeriodInline, HolidayInline]

    def has_delete_permission(self, request: HttpRequest, obj: Calendar | None = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj and obj.builtin)


class EscalationStepInline(admin.TabularInline):
    model = EscalationStep
    formset = EscalationStepFormSet
    extra = 0
    ordering = ["position"]


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    form = SLAPolicyForm
    list_display = [
        "name",
        "priority",
        "ticket_type",
        "category",
        "organisation",
        "response_minutes",
        "resolution_minutes",
        "calendar",
        "warning_threshold_percent",
        "is_active",
    ]
    list_filter = ["priority", "is_active", "calendar"]
    inlines = [EscalationStepInline]
    actions = ["retarget_running_clocks"]

    @admin.action(description=_("Re-target the running clocks of the selected policies"))
    def retarget_running_clocks(self, request: HttpRequest, queryset: QuerySet[SLAPolicy]) -> None:
        count = actions.do_retarget_policy_clocks(queryset, reason=f"policy edited by {request.user.email}")
        self.message_user(
            request, _("Re-targeted the clocks of %(count)s ticket(s).") % {"count": count}, messages.SUCCESS
        )


@admin.register(TierMultiplier)
class TierMultiplierAdmin(admin.ModelAdmin):
    list_display = ["tier", "multiplier"]


@admin.register(TicketSLA)
class TicketSLAAdmin(admin.ModelAdmin):
    list_display = ["ticket", "metric", "state", "due_at", "escalation_level", "source", "policy"]
    list_filter = ["state", "metric", "source"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket", "policy"]
    raw_id_fields = ["ticket"]
    readonly_fields = [field.name for field in TicketSLA._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(SLAEvent)
class SLAEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "ticket", "kind", "level", "cause", "trace_id"]
    list_filter = ["kind"]
    search_fields = ["ticket__number", "trace_id"]
    list_select_related = ["ticket"]
    readonly_fields = [field.name for field in SLAEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SLAEvent | None = None) -> bool:
        return False


@admin.register(SLARiskEvaluation)
class SLARiskEvaluationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "ticket", "score", "band", "suggested_priority", "model_version", "mode"]
    list_filter = ["band", "mode", "model_version"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket"]
    readonly_fields = [field.name for field in SLARiskEvaluation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(SLARiskModel)
class SLARiskModelAdmin(admin.ModelAdmin):
    list_display = ["version", "trained_at", "samples", "positives"]
    readonly_fields = [field.name for field in SLARiskModel._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
