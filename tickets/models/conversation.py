"""The conversation on a ticket: public replies, internal notes, attachments, watchers."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CommentSource(models.TextChoices):
    WEB = "web", _("Web")
    EMAIL = "email", _("Email")
    JIRA = "jira", _("Jira")
    API = "api", _("API")


class CommentQuerySet(models.QuerySet):
    def public(self) -> CommentQuerySet:
        return self.filter(internal=False)

    def visible_to(self, user: object) -> CommentQuerySet:
        """Requesters never see internal notes."""
        return self.with_notes(sees_internal_notes(user))

    def with_notes(self, internal: bool) -> CommentQuerySet:
        """Every comment, or the public replies only (``visible_to`` for one kind of user)."""
        return self if internal else self.public()


def sees_internal_notes(user: object) -> bool:
    """Agents, admins and viewers; never requesters (nor anyone whose role is unknown)."""
    return not getattr(user, "is_requester", True)


@pghistory.track(
    # The text as it was before each edit, with who edited (the same context as TicketAudit).
    pghistory.UpdateEvent("edited", row=pghistory.Old),
    fields=["body", "internal"],
    model_name="CommentRevision",
    obj_field=pghistory.ObjForeignKey(related_name="revisions", db_index=True),
    context_field=pghistory.ContextJSONField(),
    append_only=True,
)
class Comment(models.Model):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    # Who wrote it when there is no local user (a Jira account, an email sender).
    author_label = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    internal = models.BooleanField(_("internal note"), default=False)
    source = models.CharField(max_length=10, choices=CommentSource.choices, default=CommentSource.WEB)
    # Unique id in the source system (Jira comment id, email Message-ID): redeliveries change nothing.
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Moved here when its ticket was merged into this one ("from INC-…"); author and time kept.
    merged_from = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="comment_ticket_idx"),
            # First-contact resolution counts each resolved ticket's public replies by author:
            # an index-only scan per ticket.
            models.Index(
                fields=["ticket"],
                include=["author"],
                name="comment_public_author_idx",
                condition=Q(internal=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="comment_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{'Note' if self.internal else 'Reply'} on {self.ticket_id} by {self.author_display}"

    @property
    def author_display(self) -> str:
        return str(self.author) if self.author_id else (self.author_label or "system")


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.ticket_id}/{timezone.now():%Y%m}/{filename}"


class Attachment(models.Model):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.filename


class Watcher(models.Model):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="watchers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watching")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ticket", "user"], name="watcher_unique")]

    def __str__(self) -> str:
        return f"{self.user} watches {self.ticket_id}"
