"""Macros on the ticket page: pick one, preview what it will say and change, apply it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from tickets import actions
from tickets.models import IllegalTransition, Macro, Priority, StaleTicket, Ticket, TicketStatus
from tickets.views.common import (
    agent_pages,
    agents_only,
    domain_error_message,
    get_ticket_for_user,
    writers_only,
)
from tickets.views.detail import detail_context


def _macro(request: HttpRequest, raw: str | None) -> Macro | None:
    if not raw or not str(raw).isdigit():
        return None
    return Macro.objects.available_to(request.user).active().filter(pk=int(raw)).first()


def shown_changes(changes: dict[str, Any]) -> list[tuple[str, str]]:
    """A macro's changes as the preview lists them, in the reader's language."""
    labels = {
        "status": gettext("Status"),
        "resolution": gettext("Resolution"),
        "priority": gettext("Priority"),
        "priority_reason": gettext("Reason"),
        "assignee": gettext("Assignee"),
        "team": gettext("Team"),
        "tags": gettext("Tags"),
    }
    values = {
        "status": lambda value: dict(TicketStatus.choices).get(value, value),
        "priority": lambda value: dict(Priority.choices).get(value, value),
        "tags": lambda value: ", ".join(value),
    }
    return [
        (labels.get(name, name), str(values.get(name, str)(value) if value is not None else "—"))
        for name, value in changes.items()
    ]


def _render_preview(
    request: HttpRequest,
    ticket: Ticket,
    macro: Macro | None,
    *,
    error: str = "",
    body: str | None = None,
    status: int = 200,
) -> HttpResponse:
    preview = None
    if macro is not None and not error:
        try:
            preview = actions.preview_macro(macro, ticket, actor=request.user)
        except ValidationError as invalid:
            error, status = domain_error_message(invalid), 400
    elif macro is None and not error:
        error, status = gettext("Choose a macro you may use."), 400
    extra = {
        "macro_chosen": macro,
        "macro_preview": preview,
        "macro_body": body if body is not None else (preview.body if preview else ""),
        "macro_changes": shown_changes(dict(preview.changes)) if preview else [],
        "macro_error": error,
    }
    if request.htmx:
        context = {"ticket": ticket, "can_change": True, **extra}
        return render(request, "tickets/ticket_detail.html#macro-preview", context, status=status)
    return render(
        request, "tickets/ticket_detail.html", detail_context(request, ticket, **extra), status=status
    )


@login_required
@agent_pages
@writers_only
@agents_only
@require_http_methods(["GET"])
def macro_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """What the chosen macro will say (editable) and change; nothing changes yet."""
    ticket = get_ticket_for_user(request, pk)
    return _render_preview(request, ticket, _macro(request, request.GET.get("macro")))


@login_required
@agent_pages
@writers_only
@agents_only
@require_http_methods(["POST"])
def macro_apply(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_ticket_for_user(request, pk)
    macro = _macro(request, request.POST.get("macro"))
    body = request.POST.get("body")
    if macro is None:
        return _render_preview(request, ticket, None, body=body)
    try:
        actions.do_apply_macro(ticket, macro, actor=request.user, body=body)
    except (ValidationError, IllegalTransition, StaleTicket) as refused:
        status = 400 if isinstance(refused, ValidationError) else 409
        return _render_preview(
            request,
            get_ticket_for_user(request, pk),
            macro,
            error=domain_error_message(refused),
            body=body,
            status=status,
        )
    messages.success(request, gettext("Macro “%(name)s” applied.") % {"name": macro.name})
    url = f"{reverse('tickets:ticket-detail', args=[ticket.pk])}#timeline"
    if request.htmx:
        # The whole page changed (timeline, sidebar, status forms): reload it, the message shows.
        return HttpResponseClientRefresh()
    return redirect(url)
