"""One action on many tickets, all or nothing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from tickets.actions.macros import check_can_use_macro, do_apply_macro
from tickets.actions.tickets import (
    TicketChanges,
    check_assignee,
    check_choice,
    check_priority_override,
    do_edit_ticket,
    do_transition_ticket,
    normalise_tags,
)
from tickets.models import IllegalTransition, Macro, StaleTicket, Ticket, TicketStatus

if TYPE_CHECKING:
    from itsm.models import Team, User


class BulkAction(models.TextChoices):
    """The actions on many tickets: the action, the page's form, the API serializer use these."""

    ASSIGN = "assign", _("Assign")
    STATUS = "status", _("Change status")
    PRIORITY = "priority", _("Change priority")
    TAG = "tag", _("Add tag")
    CLOSE = "close", _("Close")
    MACRO = "macro", _("Apply a macro")


BULK_MAX_TICKETS = 500


class BulkActionError(Exception):
    """Some tickets of a bulk action could not be changed; nothing was changed."""

    def __init__(self, errors: dict[int, str]) -> None:
        self.errors = errors
        ids = ", ".join(str(pk) for pk in sorted(errors))
        super().__init__(f"Nothing was changed: {len(errors)} ticket(s) refused the action ({ids}).")


@transaction.atomic
def do_bulk_action(
    ticket_ids: Iterable[int],
    *,
    actor: User,
    action: str,
    assignee: User | None = None,
    team: Team | None = None,
    status: str = "",
    resolution: str = "",
    reason: str = "",
    priority: str = "",
    tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
    unassign: bool = False,
    macro: Macro | None = None,
) -> list[Ticket]:
    """Apply one action to many tickets, all or nothing.

    Every ticket is tried (each in its own savepoint) so the error names every refused id;
    if any is refused, the whole transaction rolls back and ``BulkActionError`` says why per id.
    A ticket already in the requested state is left alone, so a retried bulk action is harmless.
    ``assign`` sets ``assignee`` and/or ``team`` (what is not given is kept); ``unassign=True``
    removes the assignee instead.
    """
    check_choice(action, BulkAction.values, "action")
    ids = list(dict.fromkeys(int(pk) for pk in ticket_ids))
    if not ids:
        raise ValidationError({"ids": "Select at least one ticket."})
    if len(ids) > BULK_MAX_TICKETS:
        raise ValidationError({"ids": f"At most {BULK_MAX_TICKETS} tickets at once."})
    if action == BulkAction.STATUS:
        check_choice(status, TicketStatus.values, "status")
    if action == BulkAction.PRIORITY:
        check_priority_override(priority, reason, reason_field="reason")
    add, remove = normalise_tags(tags), normalise_tags(remove_tags)
    if action == BulkAction.TAG and not (add or remove):
        raise ValidationError({"tags": "Give tags to add or to remove."})
    if action == BulkAction.MACRO:
        if macro is None:
            raise ValidationError({"macro": "Choose a macro."})
        if not macro.is_usable_by(actor):
            raise PermissionDenied("You may not use this macro.")
    check_assignee(assignee)
    if action == BulkAction.ASSIGN and assignee is None and team is None and not unassign:
        raise ValidationError({"assignee": "Give an agent, a team, or unassign."})
    if unassign and assignee is not None:
        raise ValidationError({"assignee": "Either an agent or unassign, not both."})
    # Lock in id order: two bulk actions over overlapping tickets then queue instead of deadlocking.
    tickets = list(
        Ticket.objects.visible_to(actor).filter(pk__in=ids).order_by("pk").select_for_update(of=("self",))
    )
    found = {ticket.pk for ticket in tickets}
    errors: dict[int, str] = {pk: "No such ticket." for pk in ids if pk not in found}
    changed: list[Ticket] = []
    for ticket in tickets:
        try:
            with transaction.atomic():
                result = _apply_bulk(
                    ticket,
                    actor=actor,
                    action=action,
                    assignee=assignee,
                    team=team,
                    status=status,
                    resolution=resolution,
                    reason=reason,
                    priority=priority,
                    add=add,
                    remove=remove,
                    unassign=unassign,
                    macro=macro,
                )
        except IllegalTransition as error:
            errors[ticket.pk] = f"{ticket.number}: {error.message}"
        except (ValidationError, PermissionDenied, StaleTicket) as error:
            message = "; ".join(getattr(error, "messages", None) or [str(error)])
            errors[ticket.pk] = f"{ticket.number}: {message}"
        else:
            changed.append(result)
    if errors:
        raise BulkActionError(errors)
    return changed


def _apply_bulk(
    ticket: Ticket,
    *,
    actor: User,
    action: str,
    assignee: User | None,
    team: Team | None,
    status: str,
    resolution: str,
    reason: str,
    priority: str,
    add: list[str],
    remove: list[str],
    unassign: bool,
    macro: Macro | None = None,
) -> Ticket:
    """One ticket's part of a bulk action: one edit (closing takes the two moves it needs)."""
    if action == BulkAction.CLOSE:
        # Resolve first when needed (with the given resolution), then close.
        if ticket.status == TicketStatus.CLOSED:
            return ticket
        if ticket.status != TicketStatus.RESOLVED:
            do_transition_ticket(
                ticket, TicketStatus.RESOLVED, actor=actor, resolution=resolution, reason=reason
            )
        return do_transition_ticket(ticket, TicketStatus.CLOSED, actor=actor, reason=reason)
    if action == BulkAction.MACRO and macro is not None:
        check_can_use_macro(macro, ticket, actor)
        do_apply_macro(ticket, macro, actor=actor)
        return ticket
    changes: TicketChanges = {}
    if action == BulkAction.ASSIGN:
        if assignee is not None or unassign:
            changes["assignee"] = assignee
        if team is not None:
            changes["team"] = team
    elif action == BulkAction.STATUS and ticket.status != status:
        changes["status"] = status
        if resolution:
            changes["resolution"] = resolution
    elif action == BulkAction.PRIORITY and not (ticket.priority == priority and ticket.priority_overridden):
        changes.update(priority=priority, priority_reason=reason)
    elif action == BulkAction.TAG:
        tags = [tag for tag in ticket.tags if tag not in remove] + [
            tag for tag in add if tag not in ticket.tags
        ]
        if tags != ticket.tags:
            changes["tags"] = tags
    if changes:
        do_edit_ticket(ticket, changes, actor=actor, reason=reason)
    return ticket
