from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from integrations.chat import actions
from integrations.chat.models import ChatChannel, ChatMessage
from integrations.webhooks.admin import OUTBOX_FIELDS, URL_FIELD_OVERRIDES, error_text, https_url_fields
from integrations.webhooks.events import Event


class ChatChannelForm(forms.ModelForm):
    events = forms.TypedMultipleChoiceField(
        label=_("events"), choices=Event.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ChatChannel
        formfield_callback = https_url_fields
        fields = ["name", "kind", "webhook_url", "events", "active"]


@admin.register(ChatChannel)
class ChatChannelAdmin(admin.ModelAdmin):
    form = ChatChannelForm
    formfield_overrides = URL_FIELD_OVERRIDES
    list_display = ["name", "kind", "active", "last_success_at", "last_error_at", "last_error"]
    list_filter = ["kind", "active"]
    search_fields = ["name"]
    readonly_fields = ["last_success_at", "last_error", "last_error_at", "created_at", "updated_at"]
    actions = ["send_test"]

    def get_fields(self, request, obj=None):
        return [*ChatChannelForm.Meta.fields, *self.readonly_fields]

    @admin.action(description=_("Post a test message"))
    def send_test(self, request, queryset):
        for channel in queryset:
            try:
                actions.do_send_test_message(channel, actor=request.user)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{channel}: {error_text(error)}", messages.ERROR)
            else:
                self.message_user(
                    request, _("Test message queued for %(name)s.") % {"name": channel}, messages.SUCCESS
                )


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event", "channel", "status", "attempts", "response_code", "error"]
    list_filter = ["status", "event", "channel__kind", "channel"]
    list_select_related = ["channel"]
    search_fields = ["=trace_id"]
    date_hierarchy = "created_at"
    actions = ["retry"]
    readonly_fields = [
        "channel",
        "event",
        "body",
        "trace_id",
        *OUTBOX_FIELDS,
        "sent_at",
        "dedupe_key",
        "created_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Send failed messages again"))
    def retry(self, request, queryset):
        for message in queryset:
            try:
                actions.do_retry_chat_message(message, actor=request.user)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"#{message.pk}: {error_text(error)}", messages.WARNING)
