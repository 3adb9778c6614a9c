"""What every ticket page shares: fetching a ticket the user may see, role checks, error text."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext

from tickets.models import Comment, IllegalTransition, StaleTicket, Ticket, TicketStatus
from tickets.models.ticket import prepared_per_visibility

# What the ticket pages show of related rows, joined in one query. Each join makes PostgreSQL's
# planner consider more join orders: a sixth (created_by, shown nowhere) cost ~30 ms of
# planning per page at 100,000 tickets against 3 ms for five (bench/queue_page.py).
TICKET_RELATED = ("requester", "assignee", "team", "category", "organisation")


def _visible_ticket(kind: str, pk: Any, **values: Any) -> QuerySet[Ticket]:
    rule = Ticket.objects.visibility_rule(kind, **values)
    return Ticket.objects.select_related(*TICKET_RELATED).filter(*rule, pk=pk)


# The ticket a user may see, with its related rows: the SQL written once per process for each
# kind of visibility rule (itsm/lib/prepared.py); building and compiling it took four times as
# long as PostgreSQL takes to run it.
_ticket_for = prepared_per_visibility(_visible_ticket, "pk")
BIGGEST_ID = 2**63 - 1


def get_ticket_for_user(request: HttpRequest, pk: int) -> Ticket:
    """The ticket if ``request.user`` may see it, else 404 (never 403: its existence stays hidden)."""
    kind, values = Ticket.objects.visibility_of(request.user)
    found = _ticket_for[kind](pk=pk, **values) if kind in _ticket_for and pk <= BIGGEST_ID else []
    if not found:
        raise Http404("No ticket matches the given query.")
    return found[0]


def agent_pages(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Agent pages: agents, admins and viewers; requesters belong in the portal."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_requester:
            if request.method == "GET" and not request.htmx:
                return redirect("tickets:portal-home")
            raise PermissionDenied(gettext("Requesters use the portal."))
        return view(request, *args, **kwargs)

    return wrapper


def writers_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Changes: viewers read only (403)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.can_write():
            raise PermissionDenied(gettext("Viewers have read-only access."))
        return view(request, *args, **kwargs)

    return wrapper


def agents_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_agent:
            raise PermissionDenied(gettext("This needs an agent account."))
        return view(request, *args, **kwargs)

    return wrapper


def status_label(value: str) -> str:
    return str(dict(TicketStatus.choices).get(value, value))


def domain_error_message(error: Exception) -> str:
    """A message for the person who made the change, naming what is allowed where it helps."""
    if isinstance(error, StaleTicket):
        return gettext(
            "%(number)s was changed by someone else while you were editing it. "
            "Nothing was saved: the page now shows the latest version; review it and try again."
        ) % {"number": error.ticket.number}
    if isinstance(error, IllegalTransition):
        if error.requested in error.allowed:
            # The move is allowed but something it needs is missing (a resolution summary, say).
            if error.requested == TicketStatus.RESOLVED:
                return gettext("Resolving a ticket needs a resolution summary.")
            return error.message
        allowed = ", ".join(status_label(status) for status in error.allowed) or gettext("none (it is final)")
        return gettext(
            "This ticket cannot move from %(current)s to %(requested)s. Allowed moves: %(allowed)s."
        ) % {
            "current": status_label(error.current),
            "requested": status_label(error.requested),
            "allowed": allowed,
        }
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def newest_comments(comments: QuerySet[Comment], limit: int | None) -> tuple[list[Comment], bool]:
    """The newest ``limit`` comments, oldest first, and whether earlier ones were left out; with
    ``limit=None`` every one. Reads ``limit + 1`` rows whatever the length of the conversation."""
    if limit is None:
        return list(comments.order_by("created_at", "id")), False
    return newest_of(list(comments.order_by("-created_at", "-id")[: limit + 1]), limit)


def newest_of(rows: list[Comment], limit: int) -> tuple[list[Comment], bool]:
    """From the newest ``limit + 1`` comments, newest first: the newest ``limit``, oldest first,
    and whether earlier ones were left out."""
    return rows[:limit][::-1], len(rows) > limit
