from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from integrations.webhooks import actions
from integrations.webhooks.events import Event
from integrations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription


class EventsFormMixin(forms.ModelForm):
    events = forms.TypedMultipleChoiceField(
        label=_("events"), choices=Event.choices, widget=forms.CheckboxSelectMultiple
    )


def https_url_fields(db_field, **kwargs):
    """Model form fields, with URL fields assuming https:// when the scheme is left out."""
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


URL_FIELD_OVERRIDES = {models.URLField: {"assume_scheme": "https"}}

# How an outbox row stands (shared by deliveries and chat messages).
OUTBOX_FIELDS = [
    "status",
    "attempts",
    "max_attempts",
    "next_attempt_at",
    "claimed_until",
    "last_attempt_at",
    "response_code",
    "response_excerpt",
    "error",
]


def error_text(error: Exception) -> str:
    """A refused admin action's reason, for ``message_user``."""
    return " ".join(getattr(error, "messages", [str(error)]))


class WebhookSubscriptionForm(EventsFormMixin):
    class Meta:
        model = WebhookSubscription
        formfield_callback = https_url_fields
        fields = [
            "name",
            "url",
            "events",
            "active",
            "secret",
            "auth_header_name",
            "auth_header_value",
            "description",
        ]
        widgets = {"auth_header_value": forms.PasswordInput(render_value=True)}


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    formfield_overrides = URL_FIELD_OVERRIDES
    list_display = ["name", "url", "active", "event_list", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "url"]
    actions = ["ping", "rotate_secret", "activate", "deactivate"]

    @admin.display(description=_("events"))
    def event_list(self, subscription: WebhookSubscription) -> str:
        return ", ".join(subscription.events)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Send a ping event"))
    def ping(self, request, queryset):
        for subscription in queryset:
            try:
                actions.do_ping_subscription(subscription, actor=request.user)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(
                    request,
                    f"{subscription}: {error_text(error)}",
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request, _("Ping queued for %(name)s.") % {"name": subscription}, messages.SUCCESS
                )

    @admin.action(description=_("Rotate the signing secret"))
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            subscription.rotate_secret()
        self.message_user(request, _("New secrets generated; update the receivers."), messages.WARNING)

    @admin.action(description=_("Activate"))
    def activate(self, request, queryset):
        queryset.update(active=True)

    @admin.action(description=_("Deactivate"))
    def deactivate(self, request, queryset):
        queryset.update(active=False)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = [
        "number",
        "started_at",
        "duration_ms",
        "response_code",
        "outcome",
        "error",
        "response_excerpt",
        "run_id",
    ]
    readonly_fields = fields
    ordering = ["number"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "event",
        "subscription",
        "status",
        "attempts",
        "response_code",
        "next_attempt_at",
        "delivery_id",
    ]
    list_filter = ["status", "event", "subscription"]
    search_fields = ["=delivery_id", "=trace_id"]
    list_select_related = ["subscription"]
    date_hierarchy = "created_at"
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]
    readonly_fields = [
        "delivery_id",
        "subscription",
        "event",
        "payload",
        "occurred_at",
        "trace_id",
        "run_id",
        *OUTBOX_FIELDS,
        "succeeded_at",
        "dedupe_key",
        "redelivery_of",
        "created_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Redeliver (send again as a new delivery)"))
    def redeliver(self, request, queryset):
        sent, refused = 0, []
        for delivery in queryset.select_related("subscription"):
            try:
                actions.do_redeliver(delivery, actor=request.user)
                sent += 1
            except (actions.DeliveryNotFinished, ValidationError, PermissionDenied) as error:
                refused.append(f"{delivery.delivery_id}: {error_text(error)}")
        if sent:
            self.message_user(
                request, _("%(count)d delivery(ies) queued again.") % {"count": sent}, messages.SUCCESS
            )
        for line in refused:
            self.message_user(request, line, messages.WARNING)
