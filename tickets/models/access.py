"""Who looked at a sensitive ticket: one append-only row per view."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AccessChannel(models.TextChoices):
    WEB = "web", _("Web page")
    API = "api", _("API")
    ADMIN = "admin", _("Admin")
    EXPORT = "export", _("Export")


class SensitiveAccess(models.Model):
    """A view of a sensitive ticket. Rows can be inserted, never changed or deleted (trigger)."""

    # No database foreign keys and no cascades: deleting a user must not rewrite this log.
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.DO_NOTHING, db_constraint=False, related_name="sensitive_accesses"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # Kept as text so the log still names the person after their account is gone.
    user_email = models.CharField(max_length=254)
    channel = models.CharField(max_length=10, choices=AccessChannel.choices, default=AccessChannel.WEB)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("sensitive ticket access")
        verbose_name_plural = _("sensitive ticket accesses")
        indexes = [models.Index(fields=["ticket", "-at"], name="sensitive_access_ticket_idx")]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.user_email} viewed {self.ticket_id} ({self.channel})"
