"""Service requests from the catalog, and the approval some items require.

ticket = do_request_catalog_item(item, actor=requester, answers={...}, description="…")
# item.requires_approval: the ticket is created in pending_approval (its SLA clocks paused)
# and the core's approvals ask the item's approvers; their outcome moves it on:
# approved → new (routed as usual), rejected / expired / withdrawn → cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from itsm.approvals.actions import do_cancel_approval, do_request_approval
from itsm.approvals.approvers import resolve_approvers
from itsm.approvals.models import ApprovalRequest, ApprovalStatus
from tickets.actions.tickets import do_create_ticket, do_transition_ticket
from tickets.models import Channel, Ticket, TicketStatus, TicketType
from tickets.models.catalog import CATALOG_APPROVAL_KIND, CatalogItem

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from itsm.models import User

ACTOR_LABEL = "system:approvals"
DETAILS_LENGTH = 2000


def approvers_for(item: CatalogItem, requester: User) -> list[User]:
    """The item's approvers, never the requester; admins when the item names no one else (a
    request is never stuck without anyone to decide)."""
    approvers = [user for user in item.approvers() if user.pk != requester.pk]
    if not approvers:
        approvers = [user for user in resolve_approvers(roles=["admin"]) if user.pk != requester.pk]
    return approvers


@transaction.atomic
def do_request_catalog_item(
    item: CatalogItem,
    *,
    actor: User,
    description: str,
    answers: dict[str, Any],
    attachments: Iterable[UploadedFile] = (),
    channel: str = Channel.PORTAL,
) -> Ticket:
    """Open the service request of ``item`` for ``actor`` (answers already validated by the
    item's form); when the item requires approval, ask its approvers in the same transaction."""
    if not item.active:
        raise ValidationError({"item": gettext("This catalog item is not available.")})
    approvers: list[User] = []
    if item.requires_approval:
        approvers = approvers_for(item, actor)
        if not approvers:
            raise ValidationError(
                {"item": gettext("No one can approve this request yet. Please contact the service desk.")}
            )
    ticket = do_create_ticket(
        actor=actor,
        requester=actor,
        title=item.name,
        description=description,
        type=TicketType.SERVICE_REQUEST,
        impact=item.default_impact,
        urgency=item.default_urgency,
        category=item.default_category,
        team=item.default_team,
        channel=channel,
        metadata={"catalog_item": {"id": item.pk, "slug": item.slug, "name": item.name}, "answers": answers},
        attachments=attachments,
        status=TicketStatus.PENDING_APPROVAL if item.requires_approval else TicketStatus.NEW,
    )
    if item.requires_approval:
        do_request_approval(
            ticket,
            requested_by=actor,
            approvers=approvers,
            quorum=min(item.approvals_needed, len(approvers)),
            summary=f"{ticket.number} {item.name}"[:300],
            details=description[:DETAILS_LENGTH],
            kind=CATALOG_APPROVAL_KIND,
        )
    return ticket


def catalog_approval(ticket: Ticket) -> ApprovalRequest | None:
    """The latest approval the request asked for (None for a request that needed none)."""
    return (
        ApprovalRequest.objects.for_target(ticket)
        .filter(kind=CATALOG_APPROVAL_KIND)
        .order_by("-created_at", "-id")
        .first()
    )


def _reason(approval: ApprovalRequest, outcome: str, actor: User | None) -> str:
    if outcome == ApprovalStatus.APPROVED:
        return f"approved by {actor.email}" if actor is not None else "approved"
    if outcome == ApprovalStatus.REJECTED:
        comment = next((d.comment for d in approval.decisions.all() if not d.is_approval), "")
        who = actor.email if actor is not None else "an approver"
        return f"rejected by {who}: {comment}" if comment else f"rejected by {who}"
    if outcome == ApprovalStatus.EXPIRED:
        return "the approval expired"
    return "the approval was withdrawn" + (f": {approval.closed_reason}" if approval.closed_reason else "")


def on_approval_decided(approval: ApprovalRequest, target: Any, outcome: str, actor: Any) -> None:
    """Move the request on from pending_approval (runs inside the deciding transaction)."""
    if approval.kind != CATALOG_APPROVAL_KIND or not isinstance(target, Ticket):
        return
    # Locked: an agent cancelling the request at the same instant waits, then finds it moved.
    ticket = Ticket.objects.select_for_update().get(pk=target.pk)
    if ticket.status != TicketStatus.PENDING_APPROVAL:
        return  # cancelled meanwhile: nothing to release
    status = TicketStatus.NEW if outcome == ApprovalStatus.APPROVED else TicketStatus.CANCELLED
    do_transition_ticket(
        ticket,
        status,
        actor=actor,
        actor_label="" if actor is not None else ACTOR_LABEL,
        reason=_reason(approval, outcome, actor),
        check_permission=False,  # the approver decided through the approvals' own rules
    )


def on_ticket_status_changed(ticket: Ticket, previous: str, status: str, actor: Any) -> None:
    """A request cancelled while it waited: withdraw its approval (the approvers are told)."""
    if previous != TicketStatus.PENDING_APPROVAL or status != TicketStatus.CANCELLED:
        return
    pending = ApprovalRequest.objects.for_target(ticket).filter(kind=CATALOG_APPROVAL_KIND).pending().first()
    if pending is not None:
        do_cancel_approval(
            pending,
            actor=None,
            actor_label=ACTOR_LABEL,
            reason=f"{ticket.number} was cancelled" + (f" by {actor.email}" if actor is not None else ""),
        )
