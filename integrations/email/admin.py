from django.contrib import admin, messages
from django.utils.translation import gettext, gettext_lazy, ngettext

from integrations.email.actions import do_resend_ticket_email
from integrations.email.models import EmailReceipt, EmailThreadMessage


@admin.register(EmailReceipt)
class EmailReceiptAdmin(admin.ModelAdmin):
    """The inbound log: every message read, once, with what became of it."""

    list_display = ["received_at", "sender", "subject", "status", "ticket", "reason"]
    list_filter = ["status"]
    search_fields = ["=message_id", "sender", "subject"]
    list_select_related = ["ticket"]
    date_hierarchy = "received_at"
    readonly_fields = [
        "message_id",
        "sender",
        "subject",
        "size",
        "source",
        "status",
        "reason",
        "ticket",
        "comment",
        "attachments_kept",
        "attachments_dropped",
        "received_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EmailThreadMessage)
class EmailThreadMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "ticket", "direction", "kind", "status", "subject", "message_id"]
    list_filter = ["direction", "kind", "status"]
    search_fields = ["=message_id", "ticket__number"]
    list_select_related = ["ticket"]
    readonly_fields = [
        "ticket",
        "message_id",
        "direction",
        "kind",
        "comment",
        "recipients",
        "subject",
        "body",
        "in_reply_to",
        "references",
        "status",
        "error",
        "sent_at",
        "claimed_at",
        "created_at",
    ]
    fields = readonly_fields
    actions = ["send_again"]

    @admin.action(description=gettext_lazy("Send the failed mail again"))
    def send_again(self, request, queryset):
        queued = sum(do_resend_ticket_email(pk) for pk in queryset.values_list("pk", flat=True))
        skipped = queryset.count() - queued
        self.message_user(
            request,
            ngettext("%(count)d mail queued again.", "%(count)d mails queued again.", queued)
            % {"count": queued},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                gettext("%(count)d left alone: only failed outbound mail is sent again.")
                % {"count": skipped},
                messages.WARNING,
            )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
