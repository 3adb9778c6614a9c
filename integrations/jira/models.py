"""Jira / JSM synchronisation state: links, receipts, the outbound queue and the mappings.

Tickets are never written here: every ticket change goes through ``tickets.actions``. These
models remember what we know about the Jira side so that redeliveries, echoes of our own
pushes and out-of-order deliveries change nothing.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tickets.models import TicketStatus, TicketType
from tickets.models.priority import Priority
from tickets.models.ticket import OPEN_STATUSES


def stable_hash(value: object) -> str:
    """SHA-256 of a JSON-serialisable value, independent of key order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class Origin(models.TextChoices):
    JIRA = "jira", _("Created in Jira")
    LOCAL = "local", _("Created here")


class JiraLinkQuerySet(models.QuerySet):
    def linked(self) -> JiraLinkQuerySet:
        """Links that know their Jira issue (pushed or received)."""
        return self.exclude(issue_id=None)

    def sla_stale(self, before: object) -> JiraLinkQuerySet:
        """Linked open tickets whose JSM SLA copy is older than ``before`` (or never read)."""
        return (
            self.linked()
            .filter(deleted_at=None, ticket__status__in=OPEN_STATUSES)
            .filter(Q(sla_synced_at=None) | Q(sla_synced_at__lt=before))
            .order_by(models.F("sla_synced_at").asc(nulls_first=True), "pk")
        )


class JiraLink(models.Model):
    """The sync state of one ticket linked to one Jira issue (the design's JiraLink/SyncState)."""

    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="jira_link")
    # Empty until a locally created ticket has been pushed; unique when known.
    issue_id = models.CharField(_("issue id"), max_length=32, null=True, blank=True, unique=True)
    issue_key = models.CharField(_("issue key"), max_length=64, null=True, blank=True, unique=True)
    project_key = models.CharField(max_length=32, blank=True)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.JIRA)
    # The issue's ``updated`` of the newest state applied: older deliveries are ignored.
    last_seen_updated = models.DateTimeField(_("last seen update"), null=True, blank=True)
    # What we last knew of the Jira side (normalised), and its hash. A delivery whose values
    # equal this snapshot (our own push echoed back, a redelivery) changes nothing.
    snapshot = models.JSONField(default=dict, blank=True)
    payload_hash = models.CharField(max_length=64, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted in Jira"), null=True, blank=True)
    sla_synced_at = models.DateTimeField(_("JSM SLA read"), null=True, blank=True)
    sla_hash = models.CharField(max_length=64, blank=True)
    sla_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = JiraLinkQuerySet.as_manager()

    class Meta:
        verbose_name = _("Jira link")
        indexes = [models.Index(fields=["sla_synced_at"], name="jira_link_sla_synced_idx")]

    def __str__(self) -> str:
        return f"{self.issue_key or '(not pushed)'} ↔ ticket {self.ticket_id}"

    def is_older_than_held(self, updated: object) -> bool:
        """A delivery describing a state older than the one already applied."""
        return bool(updated and self.last_seen_updated and updated < self.last_seen_updated)


class JiraComment(models.Model):
    """A Jira comment and the local comment it is (by Jira comment id, unique)."""

    jira_comment_id = models.CharField(_("Jira comment id"), max_length=32, unique=True)
    link = models.ForeignKey(JiraLink, on_delete=models.CASCADE, related_name="comments")
    comment = models.OneToOneField(
        "tickets.Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="jira_comment"
    )
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.JIRA)
    last_seen_updated = models.DateTimeField(null=True, blank=True)
    body_hash = models.CharField(max_length=64, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("Jira comment")

    def __str__(self) -> str:
        return f"Jira comment {self.jira_comment_id}"


class ReceiptState(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Ignored")
    FAILED = "failed", _("Failed")


class WebhookReceiptQuerySet(models.QuerySet):
    def pending(self) -> WebhookReceiptQuerySet:
        return self.filter(state=ReceiptState.PENDING)

    def waiting_since(self, before: object) -> WebhookReceiptQuerySet:
        return self.pending().filter(received_at__lt=before)


class WebhookReceipt(models.Model):
    """One stored delivery, keyed by ``X-Atlassian-Webhook-Identifier`` (same across retries)
    and by ``content_key``, a digest of what the signed body says happened: the same signed
    body sent again under another identifier is the same delivery."""

    identifier = models.CharField(max_length=255, unique=True)
    content_key = models.CharField(max_length=71, blank=True)
    event = models.CharField(max_length=60)
    issue_id = models.CharField(max_length=32, blank=True)
    issue_key = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    flow = models.CharField(max_length=20, blank=True)
    # False: a project no ticket is synchronised with, whose deliveries another app claimed
    # (``signals.project_claimed``); the worker only hands them to ``delivery_processed`` listeners.
    for_tickets = models.BooleanField(default=True)
    retry_count = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=ReceiptState.choices, default=ReceiptState.PENDING)
    result = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookReceiptQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("Jira webhook receipt")
        indexes = [
            models.Index(fields=["issue_id", "received_at"], name="jira_receipt_issue_idx"),
            models.Index(
                fields=["received_at"], name="jira_receipt_pending_idx", condition=Q(state="pending")
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["content_key"], condition=~Q(content_key=""), name="jira_receipt_content_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.issue_key} ({self.state})"

    def finish(self, state: str, result: str) -> None:
        self.state, self.result, self.processed_at = state, result[:2000], timezone.now()
        self.attempts += 1
        self.save(update_fields=["state", "result", "processed_at", "attempts"])


class ChangeKind(models.TextChoices):
    CREATE_ISSUE = "create_issue", _("Create the issue")
    ADD_COMMENT = "add_comment", _("Add a public reply")
    EDIT_COMMENT = "edit_comment", _("Edit a public reply")
    TRANSITION = "transition", _("Change the status")


class ChangeState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class OutboundChangeQuerySet(models.QuerySet):
    def unfinished(self) -> OutboundChangeQuerySet:
        return self.filter(state__in=[ChangeState.PENDING, ChangeState.SENDING])

    def waiting_since(self, before: object) -> OutboundChangeQuerySet:
        return self.unfinished().filter(created_at__lt=before)


class OutboundChange(models.Model):
    """A local change waiting to reach Jira, written in the transaction that made it.

    The worker sends a ticket's changes in order (the issue before its replies); a change that
    fails for a transient reason stays pending and is retried, so nothing is lost while Jira
    is down.
    """

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="jira_changes")
    kind = models.CharField(max_length=20, choices=ChangeKind.choices)
    comment = models.ForeignKey(
        "tickets.Comment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    target_status = models.CharField(max_length=20, blank=True)
    body_hash = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=10, choices=ChangeState.choices, default=ChangeState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    objects = OutboundChangeQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        verbose_name = _("change pushed to Jira")
        indexes = [
            models.Index(fields=["ticket", "state"], name="jira_change_ticket_idx"),
            models.Index(
                fields=["created_at"],
                name="jira_change_unfinished_idx",
                condition=Q(state__in=["pending", "sending"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(kind="create_issue"), name="jira_change_one_create"
            ),
            models.UniqueConstraint(
                fields=["comment"], condition=Q(kind="add_comment"), name="jira_change_one_comment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for ticket {self.ticket_id} ({self.state})"


class ReconcileTrigger(models.TextChoices):
    API = "api", _("API")
    COMMAND = "command", _("Command")
    PERIODIC = "periodic", _("Periodic")


class ReconcileRun(models.Model):
    trigger = models.CharField(max_length=10, choices=ReconcileTrigger.choices)
    since = models.DateTimeField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    pages = models.PositiveIntegerField(default=0)
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    drift = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("Jira reconcile run")

    def __str__(self) -> str:
        return f"reconcile {self.started_at:%Y-%m-%d %H:%M} ({self.trigger})"

    def report(self) -> dict[str, object]:
        return {
            "id": self.pk,
            "trigger": self.trigger,
            "since": self.since.isoformat(),
            "ok": self.ok,
            "pages": self.pages,
            "seen": self.seen,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "drift": self.drift,
            "error": self.error,
        }


# --- mappings (editable in the admin; defaults from migration 0002) -------------------------
class StatusMapping(models.Model):
    """A Jira status name ↔ a ticket status. ``push`` marks the status we move Jira to."""

    jira_status = models.CharField(_("Jira status"), max_length=100, unique=True)
    local_status = models.CharField(_("ticket status"), max_length=20, choices=TicketStatus.choices)
    push = models.BooleanField(_("target when pushing"), default=False)

    class Meta:
        ordering = ["jira_status"]
        verbose_name = _("Jira status mapping")
        constraints = [
            models.UniqueConstraint(
                fields=["local_status"], condition=Q(push=True), name="jira_status_one_push"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.jira_status} ↔ {self.local_status}"


class PriorityMapping(models.Model):
    jira_priority = models.CharField(_("Jira priority"), max_length=100, unique=True)
    jira_id = models.CharField(_("Jira priority id"), max_length=32, blank=True)
    local_priority = models.CharField(_("ticket priority"), max_length=10, choices=Priority.choices)
    push = models.BooleanField(_("used when pushing"), default=False)

    class Meta:
        ordering = ["jira_priority"]
        verbose_name = _("Jira priority mapping")
        constraints = [
            models.UniqueConstraint(
                fields=["local_priority"], condition=Q(push=True), name="jira_priority_one_push"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.jira_priority} ↔ {self.local_priority}"


class IssueTypeMapping(models.Model):
    jira_issue_type = models.CharField(_("Jira issue type"), max_length=100, unique=True)
    jira_id = models.CharField(_("Jira issue type id"), max_length=32, blank=True)
    ticket_type = models.CharField(_("ticket type"), max_length=20, choices=TicketType.choices)
    push = models.BooleanField(_("used when pushing"), default=False)

    class Meta:
        ordering = ["jira_issue_type"]
        verbose_name = _("Jira issue type mapping")
        constraints = [
            models.UniqueConstraint(
                fields=["ticket_type"], condition=Q(push=True), name="jira_issuetype_one_push"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.jira_issue_type} ↔ {self.ticket_type}"


class LocalField(models.TextChoices):
    TAGS = "tags", _("Tags")
    SERVICE = "service", _("Service")
    METADATA = "metadata", _("Metadata (under metadata.jira.fields)")
    SLA_RESPONSE = "sla_response", _("SLA: time to first response")
    SLA_RESOLUTION = "sla_resolution", _("SLA: time to resolution")


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Jira → here")
    OUTBOUND = "outbound", _("Here → Jira")
    BOTH = "both", _("Both ways")


class FieldMappingQuerySet(models.QuerySet):
    def inbound(self) -> FieldMappingQuerySet:
        return self.filter(direction__in=[Direction.INBOUND, Direction.BOTH])

    def outbound(self) -> FieldMappingQuerySet:
        return self.filter(direction__in=[Direction.OUTBOUND, Direction.BOTH])


class FieldMapping(models.Model):
    """A Jira field (``labels``, ``components``, ``customfield_10030``…) ↔ a ticket field.

    SLA fields name the JSM SLA custom field (or the SLA's name, e.g. "Time to resolution")
    whose cycles feed the ticket's response or resolution clock.
    """

    jira_field = models.CharField(_("Jira field id or SLA name"), max_length=100)
    local_field = models.CharField(_("ticket field"), max_length=20, choices=LocalField.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.INBOUND)

    objects = FieldMappingQuerySet.as_manager()

    class Meta:
        ordering = ["jira_field"]
        verbose_name = _("Jira field mapping")
        constraints = [
            models.UniqueConstraint(fields=["jira_field", "local_field"], name="jira_field_mapping_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.jira_field} → {self.local_field} ({self.direction})"


class AccountMapping(models.Model):
    """A Jira account (``accountId``; emails are often hidden) ↔ a local user."""

    account_id = models.CharField(_("Jira account id"), max_length=128, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jira_accounts")

    class Meta:
        ordering = ["display_name"]
        verbose_name = _("Jira account mapping")

    def __str__(self) -> str:
        return f"{self.display_name or self.account_id} → {self.user}"


class ProjectKey(models.Model):
    """Accepted Jira projects besides JIRA_PROJECT_KEY; ``detected`` = pinned from the first delivery."""

    key = models.CharField(max_length=32, unique=True)
    detected = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        verbose_name = _("accepted Jira project")

    def __str__(self) -> str:
        return self.key
