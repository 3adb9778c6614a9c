"""Email in and out: one receipt per inbound Message-ID (processed once), and the Message-IDs
of every message in a ticket's thread (so replies find their ticket)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ReceiptStatus(models.TextChoices):
    PROCESSING = "processing", _("Processing")
    CREATED = "created", _("Ticket created")
    REPLIED = "replied", _("Reply added")
    AUTO_REPLY = "auto_reply", _("Ignored: auto-reply")
    BOUNCE = "bounce", _("Ignored: bounce")
    LOOP = "loop", _("Ignored: our own mail")
    REJECTED = "rejected", _("Rejected")


class EmailReceipt(models.Model):
    """An inbound message, recorded once by its Message-ID whatever became of it."""

    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    sender = models.CharField(_("from"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    size = models.PositiveIntegerField(default=0)
    source = models.CharField(_("read from"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=ReceiptStatus.choices, default=ReceiptStatus.PROCESSING
    )
    reason = models.TextField(_("reason"), blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="email_receipts"
    )
    comment = models.ForeignKey(
        "tickets.Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attachments_kept = models.PositiveIntegerField(default=0)
    attachments_dropped = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("inbound email")
        indexes = [
            models.Index(fields=["-received_at", "-id"], name="email_receipt_received_idx"),
            models.Index(fields=["status", "-received_at"], name="email_receipt_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"


class Direction(models.TextChoices):
    INBOUND = "in", _("Received")
    OUTBOUND = "out", _("Sent")


class OutboundStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class MailKind(models.TextChoices):
    INBOUND = "inbound", _("Inbound message")
    ACKNOWLEDGEMENT = "ack", _("Acknowledgement")
    REPLY = "reply", _("Agent reply")


class ThreadMessageQuerySet(models.QuerySet):
    def of_ticket(self, ticket: object) -> ThreadMessageQuerySet:
        return self.filter(ticket=ticket)

    def answering(self, message_ids: list[str]) -> ThreadMessageQuerySet:
        """Thread messages a new mail refers to (In-Reply-To / References)."""
        return self.filter(message_id__in=message_ids)


class EmailThreadMessage(models.Model):
    """One message of a ticket's email thread, in either direction."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="email_thread")
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=10, choices=MailKind.choices, default=MailKind.INBOUND)
    comment = models.ForeignKey(
        "tickets.Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipients = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True)
    in_reply_to = models.CharField(max_length=255, blank=True)
    references = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=OutboundStatus.choices, blank=True)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # When a worker took it to send (status "sending"); a stale claim is taken over.
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ThreadMessageQuerySet.as_manager()

    class Meta:
        ordering = ["ticket", "created_at", "id"]
        verbose_name = _("email thread message")
        indexes = [models.Index(fields=["ticket", "created_at"], name="email_thread_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.message_id}"
