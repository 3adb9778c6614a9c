"""Approvals: a request for a decision on any object (generic target), its approvers and
their decisions.

The core knows no domain model: a request points at its target by content type and id, and
the app that owns the target says how to name and link it (``itsm.approvals.registry``).
Decisions are append-only (a trigger refuses UPDATE and DELETE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pgtrigger
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from datetime import datetime

    from itsm.models import User


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


class Verdict(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")


class DecisionChannel(models.TextChoices):
    WEB = "web", _("Web page")
    API = "api", _("API")
    EMAIL = "email", _("Email link")


# --- errors: the API and the pages turn them into clear 4xx answers ---------------------------
class ApprovalError(Exception):
    """A decision or request the rules refuse; ``status_code`` is the HTTP answer."""

    status_code = 400

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ApprovalClosed(ApprovalError):
    """The request is no longer pending (decided, expired or cancelled)."""

    status_code = 409


class AlreadyDecided(ApprovalError):
    """This approver has decided already; a decision is never changed."""

    status_code = 409


class ApprovalAlreadyPending(ApprovalError):
    """The target already waits for a decision of the same kind."""

    status_code = 409


class NotAnApprover(ApprovalError):
    status_code = 403


class SelfApprovalRefused(ApprovalError):
    status_code = 403


class ApprovalRequestQuerySet(models.QuerySet):
    def pending(self) -> ApprovalRequestQuerySet:
        return self.filter(status=ApprovalStatus.PENDING)

    def open(self) -> ApprovalRequestQuerySet:
        """Pending and not past its expiry: a decision can still be made."""
        return self.pending().filter(expires_at__gt=timezone.now())

    def for_target(self, target: models.Model) -> ApprovalRequestQuerySet:
        return self.filter(target_type=ContentType.objects.get_for_model(target), target_id=target.pk)

    def asked_by(self, user: User) -> ApprovalRequestQuerySet:
        return self.filter(requested_by=user)

    def awaiting_decision_by(self, user: User) -> ApprovalRequestQuerySet:
        """Open requests ``user`` is an approver of and has not decided yet."""
        return self.open().filter(
            Exists(ApprovalApprover.objects.filter(request=OuterRef("pk"), user=user)),
            ~Exists(ApprovalDecision.objects.filter(request=OuterRef("pk"), approver=user)),
        )

    def due_to_expire(self, now: datetime) -> ApprovalRequestQuerySet:
        return self.pending().filter(expires_at__lte=now)

    def visible_to(self, user: User) -> ApprovalRequestQuerySet:
        """Admins see every request; everyone else the ones they asked for or are asked to decide."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        return self.filter(
            Q(requested_by=user) | Exists(ApprovalApprover.objects.filter(request=OuterRef("pk"), user=user))
        )


class ApprovalRequest(models.Model):
    """A request for approval of ``target`` by some of ``approvers``.

    Approved once ``quorum`` approvers approve; rejected once ``rejections_needed`` reject, or
    as soon as the quorum can no longer be reached. Pending requests expire at ``expires_at``.
    """

    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    target_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("target_type", "target_id")
    kind = models.CharField(
        _("kind"),
        max_length=60,
        blank=True,
        help_text=_("What is approved, in the consumer's words (runbook-execution, change …)."),
    )
    summary = models.CharField(_("summary"), max_length=300)
    details = models.TextField(_("details"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approval_requests_made",
    )
    # Who asked when no person did (``system:runbooks`` …).
    requested_by_label = models.CharField(max_length=60, blank=True)
    approvers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ApprovalApprover", related_name="approval_requests_to_decide"
    )
    quorum = models.PositiveSmallIntegerField(_("approvals needed"), default=1)
    rejections_needed = models.PositiveSmallIntegerField(_("rejections that reject"), default=1)
    allow_self_approval = models.BooleanField(_("requester may approve"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    # Tallies, written under the row lock with each decision (lists read them without a join).
    approval_count = models.PositiveSmallIntegerField(default=0)
    rejection_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    decided_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_reason = models.CharField(max_length=500, blank=True)

    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("approval request")
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="approval_expiry_idx",
                condition=Q(status=ApprovalStatus.PENDING),
            ),
            models.Index(fields=["target_type", "target_id", "-created_at"], name="approval_target_idx"),
            models.Index(fields=["requested_by", "-created_at"], name="approval_requester_idx"),
            models.Index(fields=["status", "-created_at"], name="approval_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["target_type", "target_id", "kind"],
                condition=Q(status=ApprovalStatus.PENDING),
                name="approval_one_pending_per_target",
            ),
            models.CheckConstraint(condition=Q(quorum__gte=1), name="approval_quorum_positive"),
            models.CheckConstraint(
                condition=Q(rejections_needed__gte=1), name="approval_rejections_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.summary} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == ApprovalStatus.PENDING

    def has_lapsed(self, now: datetime | None = None) -> bool:
        """Past its expiry (the sweep may not have marked it expired yet)."""
        return self.expires_at <= (now or timezone.now())

    def is_open(self, now: datetime | None = None) -> bool:
        return self.is_pending and not self.has_lapsed(now)

    def is_self_approval(self, user: User) -> bool:
        return self.requested_by_id is not None and self.requested_by_id == user.pk

    def approver_ids(self) -> set[int]:
        return {link.user_id for link in self.approver_links.all()}

    def decision_of(self, user: User) -> ApprovalDecision | None:
        return next((d for d in self.decisions.all() if d.approver_id == user.pk), None)

    def can_be_decided_by(self, user: User) -> bool:
        """For pages: whether to offer ``user`` the approve and reject buttons (no query when prefetched)."""
        return (
            self.is_open()
            and user.is_authenticated
            and user.pk in self.approver_ids()
            and (self.allow_self_approval or not self.is_self_approval(user))
            and self.decision_of(user) is None
        )

    def can_be_cancelled_by(self, user: User) -> bool:
        return self.is_pending and user.is_authenticated and (self.is_self_approval(user) or user.is_admin)

    def outcome_of_tally(self, eligible_approvers: int) -> str:
        """The status the tallies lead to: approved, rejected, or still pending."""
        if self.approval_count >= self.quorum:
            return ApprovalStatus.APPROVED
        # Rejected by enough voices, or the approvals can no longer reach the quorum.
        if (
            self.rejection_count >= self.rejections_needed
            or eligible_approvers - self.rejection_count < self.quorum
        ):
            return ApprovalStatus.REJECTED
        return ApprovalStatus.PENDING


class ApprovalApprover(models.Model):
    """One person asked to decide (resolved by the consumer when it asked)."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="approver_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "user"], name="approval_approver_unique")]
        indexes = [models.Index(fields=["user", "request"], name="approval_approver_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} on #{self.request_id}"


class ApprovalDecision(models.Model):
    """One approver's decision: append-only, one per approver and request."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_decisions"
    )
    verdict = models.CharField(_("decision"), max_length=10, choices=Verdict.choices)
    comment = models.TextField(_("comment"), blank=True)
    channel = models.CharField(max_length=10, choices=DecisionChannel.choices, default=DecisionChannel.WEB)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided_at", "id"]
        verbose_name = _("approval decision")
        constraints = [
            # The last word against a race the row lock already prevents: one decision per approver.
            models.UniqueConstraint(fields=["request", "approver"], name="approval_decision_once")
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.approver_id} {self.verdict} #{self.request_id}"

    @property
    def is_approval(self) -> bool:
        return self.verdict == Verdict.APPROVE
