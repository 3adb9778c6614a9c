from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from ai.triage import actions
from ai.triage.models import FieldSetting, MessageSentiment, TriageModel, TriageResult, TriageSettings


class FieldSettingInline(admin.TabularInline):
    model = FieldSetting
    extra = 0
    can_delete = False
    max_num = len(FieldSetting._meta.get_field("field").choices)
    fields = ["field", "mode", "threshold"]
    readonly_fields = ["field"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TriageSettings)
class TriageSettingsAdmin(admin.ModelAdmin):
    """One row: modes and thresholds per field, training and sentiment settings."""

    inlines = [FieldSettingInline]
    list_display = [
        "__str__",
        "min_training_tickets",
        "target_precision",
        "retrain_automatically",
        "sentiment_action",
        "sentiment_tiers",
        "updated_at",
    ]
    fieldsets = (
        (_("Training"), {"fields": ("min_training_tickets", "target_precision", "retrain_automatically")}),
        (
            _("Sentiment"),
            {"fields": ("sentiment_action", "sentiment_threshold", "sentiment_tiers", "attention_tag")},
        ),
    )
    actions = ["train_now"]

    def get_queryset(self, request):
        # The row and one line per field exist as soon as an admin looks.
        FieldSetting.all_fields()
        return super().get_queryset(request)

    def has_add_permission(self, request):
        return not TriageSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Train the triage models now"))
    def train_now(self, request, queryset):
        model, outcome = actions.do_train_models(force=True)
        if model is not None:
            self.message_user(
                request,
                _("Trained %(label)s on %(rows)s.") % {"label": model.label, "rows": model.training_rows},
            )
        else:
            skipped = outcome.skipped if outcome else {}
            self.message_user(
                request, _("Nothing to learn yet: %(why)s") % {"why": skipped}, messages.WARNING
            )


@admin.register(TriageModel)
class TriageModelAdmin(admin.ModelAdmin):
    list_display = ["version", "trained_at", "is_active", "training_rows", "size_bytes", "seconds"]
    list_filter = ["is_active"]
    readonly_fields = [
        "version",
        "trained_at",
        "is_active",
        "training_rows",
        "metrics",
        "size_bytes",
        "seconds",
        "last_ticket_resolved_at",
    ]
    exclude = ["blob"]
    actions = ["activate"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("blob")

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Use this version"))
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version."), messages.ERROR)
            return
        model = actions.do_activate_model(queryset.get())
        self.message_user(request, _("%(label)s is now active.") % {"label": model.label})


@admin.register(TriageResult)
class TriageResultAdmin(admin.ModelAdmin):
    list_display = [
        "ticket",
        "field",
        "predicted_label",
        "confidence",
        "method",
        "model_version",
        "mode",
        "status",
        "applied",
        "correct",
        "latency_ms",
        "created_at",
    ]
    list_filter = ["field", "mode", "status", "applied", "correct", "method"]
    search_fields = ["ticket__number", "predicted_label"]
    list_select_related = ["ticket"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MessageSentiment)
class MessageSentimentAdmin(admin.ModelAdmin):
    list_display = ["ticket", "comment", "label", "score", "language", "raised_attention", "created_at"]
    list_filter = ["label", "raised_attention", "language"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket", "comment"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
