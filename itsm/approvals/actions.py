"""Approval workflows: pages, the API, tasks and consumers all call these.

approval = do_request_approval(
    execution, requested_by=agent, approvers=resolve_approvers(leads_of=[team]),
    summary="Restart nginx on web01", kind="runbook-execution",
)
do_decide_approval(approval, actor=lead, approve=True, comment="Go ahead")
# → approval_decided(outcome="approved", target=execution, …): the consumer acts on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext

from itsm.approvals import notifications, signals
from itsm.approvals.models import (
    AlreadyDecided,
    ApprovalAlreadyPending,
    ApprovalApprover,
    ApprovalClosed,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalStatus,
    DecisionChannel,
    NotAnApprover,
    SelfApprovalRefused,
    Verdict,
)
from itsm.models import AutomationEvent

if TYPE_CHECKING:
    from itsm.models import User

SYSTEM_ACTOR = "system:approvals"


def _adopt(caller: ApprovalRequest, fresh: ApprovalRequest) -> None:
    """Copy the saved state onto the caller's instance (no query)."""
    if caller is fresh:
        return
    for field in ApprovalRequest._meta.concrete_fields:
        setattr(caller, field.attname, getattr(fresh, field.attname))
    for cache in ("decisions", "approver_links"):
        getattr(caller, "_prefetched_objects_cache", {}).pop(cache, None)


def _locked(approval: ApprovalRequest) -> ApprovalRequest:
    return (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("requested_by")
        .get(pk=approval.pk)
    )


# --- request ---------------------------------------------------------------------------------
@transaction.atomic
def do_request_approval(
    target: models.Model,
    *,
    requested_by: User | None,
    approvers: Iterable[User],
    summary: str,
    quorum: int = 1,
    rejections_needed: int = 1,
    allow_self_approval: bool = False,
    expires_at: datetime | None = None,
    details: str = "",
    kind: str = "",
    requested_by_label: str = "",
) -> ApprovalRequest:
    """Ask ``approvers`` to approve ``target``; ``quorum`` of them must approve.

    The requester is left out of the approvers unless ``allow_self_approval``. Expires at
    ``expires_at`` (default: ``APPROVAL_DEFAULT_EXPIRY_HOURS`` from now). Raises
    ``ValidationError`` for bad input and ``ApprovalAlreadyPending`` when the target already
    waits for a decision of the same ``kind``.
    """
    if target.pk is None:
        raise ValidationError({"target": "The target must be saved before asking for its approval."})
    summary = (summary or "").strip()
    if not summary:
        raise ValidationError({"summary": "A summary is required."})
    if len(summary) > 300:
        raise ValidationError({"summary": "The summary is longer than 300 characters."})
    eligible: dict[int, User] = {}
    for user in approvers:
        if user is None or not user.is_active:
            continue
        if requested_by is not None and user.pk == requested_by.pk and not allow_self_approval:
            continue  # may not approve their own request
        eligible.setdefault(user.pk, user)
    if not eligible:
        raise ValidationError({"approvers": "No one else can approve this: the list of approvers is empty."})
    if not 1 <= quorum <= len(eligible):
        raise ValidationError(
            {"quorum": f"The quorum must be between 1 and the {len(eligible)} approver(s), not {quorum}."}
        )
    if not 1 <= rejections_needed <= len(eligible):
        raise ValidationError(
            {
                "rejections_needed": (
                    f"Rejections needed must be between 1 and the {len(eligible)} approver(s), "
                    f"not {rejections_needed}."
                )
            }
        )
    now = timezone.now()
    if expires_at is None:
        expires_at = now + timedelta(hours=settings.APPROVAL_DEFAULT_EXPIRY_HOURS)
    if expires_at <= now:
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    target_type = ContentType.objects.get_for_model(target)
    approval = ApprovalRequest(
        target_type=target_type,
        target_id=target.pk,
        kind=kind,
        summary=summary,
        details=details or "",
        requested_by=requested_by,
        requested_by_label=requested_by_label if requested_by is None else "",
        quorum=quorum,
        rejections_needed=rejections_needed,
        allow_self_approval=allow_self_approval,
        created_at=now,
        expires_at=expires_at,
    )
    try:
        # One pending request per target and kind: the partial unique index settles two
        # consumers asking at the same instant (the second gets the conflict, not a twin).
        with transaction.atomic():
            approval.save()
    except IntegrityError as error:
        raise ApprovalAlreadyPending(
            f"{target_type.name.capitalize()} #{target.pk} already waits for an approval"
            + (f" ({kind})." if kind else ".")
        ) from error
    ApprovalApprover.objects.bulk_create(
        ApprovalApprover(request=approval, user=user) for user in eligible.values()
    )
    approval.target = target
    signals.approval_requested.send(
        sender=ApprovalRequest, approval=approval, target=target, actor=requested_by
    )
    notifications.notify_approvers_asked(approval, eligible.values())
    return approval


# --- decide ----------------------------------------------------------------------------------
def check_can_decide(approval: ApprovalRequest, actor: User, *, now: datetime | None = None) -> None:
    """Why ``actor`` may not decide ``approval`` now, as the matching ApprovalError."""
    if not approval.is_pending:
        raise ApprovalClosed(
            gettext("This approval is already %(status)s; nothing was changed.")
            % {"status": approval.get_status_display().lower()}
        )
    if approval.has_lapsed(now):
        raise ApprovalClosed(
            gettext("This approval expired on %(when)s; nothing was changed.")
            % {"when": formats.date_format(timezone.localtime(approval.expires_at), "SHORT_DATETIME_FORMAT")}
        )
    if approval.is_self_approval(actor) and not approval.allow_self_approval:
        raise SelfApprovalRefused(gettext("You asked for this approval: someone else must decide."))
    if not ApprovalApprover.objects.filter(request=approval, user=actor).exists():
        raise NotAnApprover(gettext("You are not an approver of this request."))
    previous = ApprovalDecision.objects.filter(request=approval, approver=actor).first()
    if previous is not None:
        raise AlreadyDecided(
            gettext("You already decided (%(verdict)s on %(when)s); a decision cannot be changed.")
            % {
                "verdict": previous.get_verdict_display().lower(),
                "when": formats.date_format(timezone.localtime(previous.decided_at), "SHORT_DATETIME_FORMAT"),
            }
        )


@transaction.atomic
def do_decide_approval(
    approval: ApprovalRequest,
    *,
    actor: User,
    approve: bool,
    comment: str = "",
    channel: str = DecisionChannel.WEB,
) -> ApprovalDecision:
    """Record ``actor``'s decision and settle the request when the tally says so.

    Raises ApprovalClosed (decided, expired, cancelled), AlreadyDecided, NotAnApprover,
    SelfApprovalRefused, or ValidationError (a rejection without a comment).
    """
    comment = (comment or "").strip()
    if not approve and not comment:
        raise ValidationError({"comment": gettext("A rejection needs a comment saying why.")})
    if channel not in DecisionChannel.values:
        raise ValidationError({"channel": f"Unknown channel {channel!r}."})
    # Two approvers deciding at once would each read the other's vote as missing: both could
    # settle the request, or neither (1 + 1 < 2 as each saw it). The row lock queues the second
    # until the first commits; it then reads the first one's decision and the new tallies.
    caller, approval = approval, _locked(approval)
    check_can_decide(approval, actor)
    try:
        with transaction.atomic():
            decision = ApprovalDecision.objects.create(
                request=approval,
                approver=actor,
                verdict=Verdict.APPROVE if approve else Verdict.REJECT,
                comment=comment,
                channel=channel,
            )
    except IntegrityError as error:  # unreachable under the lock; the constraint is the last word
        raise AlreadyDecided(gettext("You already decided; a decision cannot be changed.")) from error
    if approve:
        approval.approval_count += 1
    else:
        approval.rejection_count += 1
    fields = ["approval_count", "rejection_count"]
    outcome = approval.outcome_of_tally(approval.approver_links.count())
    if outcome != ApprovalStatus.PENDING:
        approval.status = outcome
        approval.decided_at = decision.decided_at
        fields += ["status", "decided_at"]
    approval.save(update_fields=fields)
    _adopt(caller, approval)
    target = approval.target
    signals.decision_recorded.send(
        sender=ApprovalRequest, approval=approval, target=target, decision=decision, actor=actor
    )
    if outcome != ApprovalStatus.PENDING:
        signals.approval_decided.send(
            sender=ApprovalRequest, approval=approval, target=target, outcome=outcome, actor=actor
        )
        notifications.notify_requester_settled(approval, comment=comment, actor=actor)
    return decision


# --- cancel and expire -----------------------------------------------------------------------
@transaction.atomic
def do_cancel_approval(
    approval: ApprovalRequest, *, actor: User | None, reason: str = "", actor_label: str = ""
) -> ApprovalRequest:
    """Withdraw a pending request: its requester or an admin, or the consumer (actor None)."""
    caller, approval = approval, _locked(approval)
    if actor is not None and not (approval.is_self_approval(actor) or actor.is_admin):
        raise NotAnApprover(gettext("Only the person who asked, or an admin, may withdraw this approval."))
    if not approval.is_pending:
        raise ApprovalClosed(
            gettext("This approval is already %(status)s; nothing was changed.")
            % {"status": approval.get_status_display().lower()}
        )
    approval.status = ApprovalStatus.CANCELLED
    approval.decided_at = timezone.now()
    approval.closed_by = actor
    approval.closed_reason = (reason or "").strip()[:500]
    approval.save(update_fields=["status", "decided_at", "closed_by", "closed_reason"])
    if actor is None:
        AutomationEvent.objects.create(
            actor=actor_label or SYSTEM_ACTOR,
            action="approval.cancelled",
            subject_type="approval",
            subject_id=str(approval.pk),
            before={"status": ApprovalStatus.PENDING},
            after={"status": ApprovalStatus.CANCELLED},
            reason=approval.closed_reason,
        )
    _adopt(caller, approval)
    signals.approval_decided.send(
        sender=ApprovalRequest,
        approval=approval,
        target=approval.target,
        outcome=ApprovalStatus.CANCELLED,
        actor=actor,
    )
    notifications.notify_approvers_withdrawn(approval, actor=actor)
    return approval


def do_expire_approvals(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Mark every pending request past its expiry as expired; returns how many. Idempotent.

    Each batch is one transaction. Rows another transaction holds (an approver deciding right
    now) are skipped, not waited for: that decision is refused as lapsed, and the next sweep
    expires the row.
    """
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            due = list(
                ApprovalRequest.objects.due_to_expire(now)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("requested_by")
                .order_by("expires_at", "id")[:batch_size]
            )
            for approval in due:
                approval.status = ApprovalStatus.EXPIRED
                approval.decided_at = now
                approval.save(update_fields=["status", "decided_at"])
                AutomationEvent.objects.create(
                    actor=SYSTEM_ACTOR,
                    action="approval.expired",
                    subject_type="approval",
                    subject_id=str(approval.pk),
                    before={"status": ApprovalStatus.PENDING},
                    after={"status": ApprovalStatus.EXPIRED},
                    reason=f"expired at {approval.expires_at.isoformat()}",
                )
                signals.approval_decided.send(
                    sender=ApprovalRequest,
                    approval=approval,
                    target=approval.target,
                    outcome=ApprovalStatus.EXPIRED,
                    actor=None,
                )
                notifications.notify_requester_settled(approval, actor=None)
        expired += len(due)
        if len(due) < batch_size:
            return expired
