"""Change workflows: pages, the API and the approvals receiver call these."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from changes import conflicts as conflict_rules
from changes import signals
from changes.models import (
    ChangeError,
    ChangeEvent,
    ChangeOutcome,
    ChangeRequest,
    ChangeStatus,
    ChangeType,
    IllegalChangeTransition,
    Level,
    risk_of,
)
from itsm.approvals.actions import do_cancel_approval, do_decide_approval, do_request_approval
from itsm.approvals.approvers import resolve_approvers
from itsm.approvals.models import ApprovalRequest, ApprovalStatus, DecisionChannel
from itsm.models import AutomationEvent, Team
from problems.actions import do_update_problem
from problems.models import Problem, ProblemStatus
from tickets.models.ticket import audited

if TYPE_CHECKING:
    from itsm.models import User

SYSTEM_ACTOR = "system:changes"
APPROVAL_KIND = "change-authorisation"
S = ChangeStatus

# What an agent edits while the change is drafted or assessed.
EDITABLE_FIELDS = (
    "type",
    "title",
    "description",
    "reason",
    "likelihood",
    "impact",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "planned_start",
    "planned_end",
    "services",
    "assignee",
    "team",
)
EDITABLE_STATUSES = (S.DRAFT, S.ASSESS)


def check_can_manage(actor: User | None) -> None:
    if actor is not None and not actor.is_agent:
        raise PermissionDenied("Only agents manage changes.")


def check_change_fields(values: dict[str, Any], current: ChangeRequest | None = None) -> dict[str, Any]:
    """Validate and shape untrusted values; raises ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    unknown = set(values) - set(EDITABLE_FIELDS)
    for name in sorted(unknown):
        errors[name] = "This field cannot be changed."
    if "title" in values:
        values["title"] = (values["title"] or "").strip()[:255]
        if not values["title"]:
            errors["title"] = "A title is required."
    if "type" in values and values["type"] not in ChangeType.values:
        errors["type"] = f"Use one of: {', '.join(ChangeType.values)}."
    for name in ("likelihood", "impact"):
        if name in values and values[name] not in Level.values:
            errors[name] = f"Use one of: {', '.join(Level.values)}."
    if "services" in values:
        services = [
            str(service).strip()[:120] for service in values["services"] or [] if str(service).strip()
        ]
        values["services"] = sorted(set(services))
    if "assignee" in values and values["assignee"] is not None and not values["assignee"].is_agent:
        errors["assignee"] = "The assignee must be an agent."
    start = values.get("planned_start", current.planned_start if current else None)
    end = values.get("planned_end", current.planned_end if current else None)
    for name, value in (("planned_start", start), ("planned_end", end)):
        if isinstance(value, datetime) and timezone.is_naive(value):
            errors[name] = "Give a time zone."
    if start and end and not errors and end <= start:
        errors["planned_end"] = "The end must be after the start."
    if errors:
        raise ValidationError(errors)
    return values


def _record(change: ChangeRequest, actor: User | None, action: str, **extra: Any) -> None:
    AutomationEvent.objects.record(
        actor=actor if actor is not None else SYSTEM_ACTOR, action=action, subject=change, **extra
    )


@transaction.atomic
def do_create_change(
    *,
    actor: User,
    affected_items: list[Any] | None = None,
    problems: list[Problem] | None = None,
    incidents: list[Any] | None = None,
    **values: Any,
) -> ChangeRequest:
    check_can_manage(actor)
    values.setdefault("title", "")
    values = check_change_fields(values)
    likelihood = values.get("likelihood", Level.LOW)
    impact = values.get("impact", Level.LOW)
    with audited(actor):
        change = ChangeRequest.objects.create(requested_by=actor, risk=risk_of(likelihood, impact), **values)
        change.affected_items.set(affected_items or [])
        change.problems.set(problems or [])
        change.incidents.set(incidents or [])
    _record(change, actor, ChangeEvent.CREATED, after={"status": change.status, "risk": change.risk})
    return change


def _locked(change: ChangeRequest) -> ChangeRequest:
    return ChangeRequest.objects.select_for_update().get(pk=change.pk)


@transaction.atomic
def do_update_change(
    change: ChangeRequest,
    *,
    actor: User,
    affected_items: list[Any] | None = None,
    problems: list[Problem] | None = None,
    incidents: list[Any] | None = None,
    **values: Any,
) -> ChangeRequest:
    check_can_manage(actor)
    change = _locked(change)
    if change.status not in EDITABLE_STATUSES:
        raise ChangeError(
            f"A {change.status} change is not edited; move it back to assess first.",
            allowed=list(EDITABLE_STATUSES),
        )
    values = check_change_fields(values, change)
    with audited(actor):
        changed = [name for name, value in values.items() if getattr(change, name) != value]
        for name in changed:
            setattr(change, name, values[name])
        risk = risk_of(change.likelihood, change.impact)
        if risk != change.risk:
            change.risk = risk
            changed.append("risk")
        if changed:
            change.updated_at = timezone.now()
            change.save(update_fields=[*changed, "updated_at"])
        if affected_items is not None:
            change.affected_items.set(affected_items)
        if problems is not None:
            change.problems.set(problems)
        if incidents is not None:
            change.incidents.set(incidents)
    return change


# --- approvals ----------------------------------------------------------------------------------
def approvers_for(change: ChangeRequest) -> tuple[list[User], int]:
    """Who authorises ``change`` and how many of them must approve.

    Emergency: one approver (the team's lead, else an admin). Normal: the team's lead for a
    low risk; the change advisory board (a team named ``CHANGE_ADVISORY_BOARD``) for medium
    (one of them) and high risk (``CHANGE_CAB_QUORUM`` of them); admins when there is no board.
    """
    board = Team.objects.filter(name=settings.CHANGE_ADVISORY_BOARD)
    if change.type == ChangeType.EMERGENCY or change.risk == Level.LOW:
        approvers = resolve_approvers(leads_of=[change.team_id]) or resolve_approvers(roles=["admin"])
        return approvers, 1
    approvers = resolve_approvers(members_of=board) or resolve_approvers(roles=["admin"])
    quorum = settings.CHANGE_CAB_QUORUM if change.risk == Level.HIGH else 1
    return approvers, quorum


def pending_approval(change: ChangeRequest) -> ApprovalRequest | None:
    return ApprovalRequest.objects.for_target(change).filter(kind=APPROVAL_KIND).pending().first()


def latest_approval(change: ChangeRequest) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.for_target(change)
        .filter(kind=APPROVAL_KIND)
        .order_by("-created_at", "-id")
        .first()
    )


def _request_authorisation(change: ChangeRequest, actor: User | None) -> None:
    approvers, quorum = approvers_for(change)
    if actor is not None:
        approvers = [user for user in approvers if user.pk != actor.pk]  # never one's own change
    if not approvers:
        raise ValidationError(
            {"approvers": "No one else can authorise this change: add a team lead or a board."}
        )
    do_request_approval(
        change,
        requested_by=actor,
        requested_by_label="" if actor is not None else SYSTEM_ACTOR,
        approvers=approvers,
        quorum=min(quorum, len(approvers)),
        summary=f"Authorise {change.number} {change.title}"[:300],
        details=(
            f"{change.get_type_display()} change, {change.get_risk_display().lower()} risk, "
            f"{timezone.localtime(change.planned_start):%Y-%m-%d %H:%M} → "
            f"{timezone.localtime(change.planned_end):%Y-%m-%d %H:%M}."
        ),
        kind=APPROVAL_KIND,
    )


def check_ready_for_authorisation(change: ChangeRequest) -> None:
    errors = {}
    if not change.has_window:
        errors["planned_start"] = "Plan the start and end first."
    if change.type != ChangeType.STANDARD:
        if not change.implementation_plan.strip():
            errors["implementation_plan"] = "An implementation plan is needed."
        if not change.backout_plan.strip():
            errors["backout_plan"] = "A back-out plan is needed."
    if errors:
        raise ValidationError(errors)
    blocking = conflict_rules.unaccepted(change, conflict_rules.conflicts_of(change))
    if blocking:
        raise ChangeError(
            "Conflicts block authorisation: "
            + " ".join(conflict.message for conflict in blocking)
            + " Move the change or accept the conflicts with a reason."
        )


# --- transitions --------------------------------------------------------------------------------
def _move(change: ChangeRequest, status: str, *, actor: User | None, reason: str = "", **fields: Any) -> None:
    previous = change.status
    with audited(actor, reason=reason, actor_label=SYSTEM_ACTOR):
        change.status = status
        change.updated_at = timezone.now()
        for name, value in fields.items():
            setattr(change, name, value)
        change.save(update_fields=["status", "updated_at", *fields])
    _record(
        change,
        actor,
        ChangeEvent.TRANSITIONED,
        before={"status": previous},
        after={"status": status},
        reason=reason,
    )
    signals.change_status_changed.send(
        sender=ChangeRequest, change=change, previous=previous, status=status, actor=actor, reason=reason
    )


@transaction.atomic
def do_transition_change(
    change: ChangeRequest,
    status: str,
    *,
    actor: User,
    reason: str = "",
    outcome: str = "",
    resolve_problems: bool = False,
) -> ChangeRequest:
    """Move ``change`` along the lifecycle; the map in ``CHANGE_TRANSITIONS`` decides.

    ``authorize`` asks for the approval its type and risk need (a standard change is scheduled
    at once); ``scheduled`` from ``authorize`` needs that approval granted. ``closed`` needs the
    outcome; with ``resolve_problems`` the problems it addressed whose fix is recorded move to
    resolved (the agent confirms by asking).
    """
    check_can_manage(actor)
    change = _locked(change)
    if status not in ChangeStatus.values or not change.can_transition_to(status):
        raise IllegalChangeTransition(change.status, status)
    if status == S.AUTHORIZE:
        check_ready_for_authorisation(change)
        _move(change, S.AUTHORIZE, actor=actor, reason=reason)
        if change.needs_approval:
            _request_authorisation(change, actor)
        else:
            _move(change, S.SCHEDULED, actor=actor, reason="standard change: pre-approved")
        return change
    if status == S.SCHEDULED and change.status == S.AUTHORIZE and change.needs_approval:
        approval = latest_approval(change)
        if approval is None or approval.status != ApprovalStatus.APPROVED:
            raise ChangeError("The change waits for its approval; it is scheduled once approved.")
    if status == S.CLOSED:
        if outcome not in ChangeOutcome.values:
            raise ValidationError({"outcome": f"Say how it went: {', '.join(ChangeOutcome.values)}."})
        _move(change, S.CLOSED, actor=actor, reason=reason, outcome=outcome, closed_at=timezone.now())
        if resolve_problems and outcome == ChangeOutcome.SUCCESSFUL:
            _resolve_addressed_problems(change, actor)
        return change
    if change.status == S.AUTHORIZE and status in (S.ASSESS, S.CANCELLED):
        pending = pending_approval(change)
        if pending is not None:
            do_cancel_approval(
                pending, actor=None, reason=f"{change.number} moved to {status}", actor_label=SYSTEM_ACTOR
            )
    _move(change, status, actor=actor, reason=reason)
    return change


def _resolve_addressed_problems(change: ChangeRequest, actor: User) -> None:
    for problem in change.problems.exclude(status__in=[ProblemStatus.RESOLVED, ProblemStatus.CLOSED]):
        if problem.fix.strip() and problem.can_transition_to(ProblemStatus.RESOLVED):
            do_update_problem(problem, actor=actor, status=ProblemStatus.RESOLVED)


@transaction.atomic
def do_accept_conflicts(change: ChangeRequest, *, actor: User, reason: str) -> ChangeRequest:
    """Accept the change's current conflicts with a reason: they no longer block authorisation."""
    check_can_manage(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the conflicts are acceptable."})
    if len(reason) > 500:
        raise ValidationError({"reason": "The reason is longer than 500 characters."})
    change = _locked(change)
    found = conflict_rules.conflicts_of(change)
    if not found:
        raise ValidationError({"reason": "This change has no conflict to accept."})
    keys = sorted({conflict.key for conflict in found})
    with audited(actor, reason=reason):
        change.conflict_override_reason = reason
        change.overridden_conflicts = keys
        change.updated_at = timezone.now()
        change.save(update_fields=["conflict_override_reason", "overridden_conflicts", "updated_at"])
    _record(change, actor, ChangeEvent.CONFLICTS_ACCEPTED, after={"conflicts": keys}, reason=reason)
    return change


@transaction.atomic
def do_decide_change(
    change: ChangeRequest,
    *,
    actor: User,
    approve: bool,
    comment: str = "",
    channel: str = DecisionChannel.API,
) -> ChangeRequest:
    """An approver approves or rejects the change's pending authorisation (the core decides)."""
    approval = pending_approval(change)
    if approval is None:
        raise ChangeError(f"{change.number} waits for no approval.")
    do_decide_approval(approval, actor=actor, approve=approve, comment=comment, channel=channel)
    change.refresh_from_db()
    return change


def on_approval_decided(approval: ApprovalRequest, target: Any, outcome: str, actor: Any) -> None:
    """Approved: the change is scheduled. Rejected or expired: back to assess. Called inside the
    deciding transaction; the compare-and-set on the status makes a replay change nothing."""
    if approval.kind != APPROVAL_KIND or not isinstance(target, ChangeRequest):
        return
    change = ChangeRequest.objects.select_for_update().get(pk=target.pk)
    if change.status != S.AUTHORIZE:
        return  # withdrawn or moved on already (our own cancellation lands here)
    if outcome == ApprovalStatus.APPROVED:
        _move(change, S.SCHEDULED, actor=actor, reason="approved")
    elif outcome in (ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED):
        _move(change, S.ASSESS, actor=actor, reason=outcome)
