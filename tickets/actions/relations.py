"""Links between tickets (duplicate, related, parent/child, caused by)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from tickets import signals
from tickets.actions.tickets import check_can_change, check_choice, do_transition_ticket
from tickets.models import RelationKind, Ticket, TicketRelation, TicketStatus

if TYPE_CHECKING:
    from itsm.models import User


@transaction.atomic
def do_add_relation(
    ticket: Ticket,
    *,
    target: Ticket,
    kind: str,
    actor: User | None,
    close_duplicate: bool = False,
) -> TicketRelation:
    check_can_change(ticket, actor)
    check_choice(kind, RelationKind.values, "kind")
    if target.pk == ticket.pk:
        raise ValidationError({"target": "A ticket cannot be linked to itself."})
    if actor is not None and not target.is_visible_to(actor):
        raise ValidationError({"target": "No such ticket."})
    if close_duplicate and kind != RelationKind.DUPLICATE_OF:
        raise ValidationError({"close_duplicate": "Only a duplicate_of link can close the ticket."})
    # The same fact stated from the other side is a duplicate too (B child_of A = A parent_of B),
    # and two tickets cannot each be the duplicate of the other.
    inverse = INVERSE_KINDS[kind]
    if TicketRelation.objects.filter(source=target, target=ticket, kind=inverse).exists():
        raise ValidationError({"target": f"{target.number} is already {inverse} {ticket.number}."})
    try:
        with transaction.atomic():
            relation = TicketRelation.objects.create(
                source=ticket, target=target, kind=kind, created_by=actor
            )
    except IntegrityError as error:
        raise ValidationError({"target": f"{ticket.number} is already {kind} {target.number}."}) from error
    signals.relation_added.send(sender=Ticket, ticket=ticket, actor=actor, actor_label="", relation=relation)
    if close_duplicate:
        ticket.refresh_from_db()
        why = f"duplicate of {target.number}"
        if ticket.can_transition_to(TicketStatus.RESOLVED):
            ticket = do_transition_ticket(
                ticket,
                TicketStatus.RESOLVED,
                actor=actor,
                resolution=f"Duplicate of {target.number}.",
                reason=why,
            )
        if ticket.can_transition_to(TicketStatus.CLOSED):
            do_transition_ticket(ticket, TicketStatus.CLOSED, actor=actor, reason=why)
    return relation


INVERSE_KINDS = {
    RelationKind.DUPLICATE_OF: RelationKind.DUPLICATE_OF,
    RelationKind.RELATED: RelationKind.RELATED,
    RelationKind.PARENT_OF: RelationKind.CHILD_OF,
    RelationKind.CHILD_OF: RelationKind.PARENT_OF,
    RelationKind.CAUSED_BY: RelationKind.CAUSED_BY,
}


@transaction.atomic
def do_remove_relation(relation: TicketRelation, *, actor: User | None) -> None:
    check_can_change(relation.source, actor)
    relation.delete()


def children_of(ticket: Ticket) -> list[Ticket]:
    """Its children, stated either way (it parent_of them, or they child_of it), oldest first."""
    return list(
        Ticket.objects.filter(
            Q(relations_in__source=ticket, relations_in__kind=RelationKind.PARENT_OF)
            | Q(relations_out__target=ticket, relations_out__kind=RelationKind.CHILD_OF)
        )
        .distinct()
        .order_by("pk")
    )


@transaction.atomic
def do_resolve_with_children(
    ticket: Ticket,
    *,
    actor: User | None,
    resolution: str,
    reason: str = "",
    expected_version: int | None = None,
) -> list[Ticket]:
    """Resolve a parent and its open children with the same resolution, all or nothing; returns
    the children resolved. A child already resolved, closed or cancelled is left as it is."""
    do_transition_ticket(
        ticket,
        TicketStatus.RESOLVED,
        actor=actor,
        resolution=resolution,
        reason=reason,
        expected_version=expected_version,
    )
    resolved = []
    for child in children_of(ticket):
        if child.can_transition_to(TicketStatus.RESOLVED):
            do_transition_ticket(
                child,
                TicketStatus.RESOLVED,
                actor=actor,
                resolution=resolution,
                reason=f"parent {ticket.number} resolved",
            )
            resolved.append(child)
    return resolved
