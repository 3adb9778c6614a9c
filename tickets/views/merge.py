"""Merging tickets from the ticket page: name the tickets, read what will move, confirm."""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from tickets import actions
from tickets.models import Ticket
from tickets.views.common import (
    agent_pages,
    agents_only,
    domain_error_message,
    get_ticket_for_user,
    writers_only,
)

SEPARATORS = re.compile(r"[\s,;]+")


def sources_from(request: HttpRequest, raw: str) -> tuple[list[Ticket], list[str]]:
    """The tickets named (numbers or ids) among those the user may see; the names not found."""
    names = [name for name in SEPARATORS.split(raw.strip()) if name][: actions.MERGE_MAX_SOURCES + 1]
    found, missing = [], []
    visible = Ticket.objects.visible_to(request.user).select_related("requester")
    for name in names:
        lookup = Q(number=name.upper()) | (Q(pk=int(name)) if name.isdigit() else Q(pk__in=[]))
        ticket = visible.filter(lookup).first()
        if ticket is None:
            missing.append(name)
        else:
            found.append(ticket)
    return found, missing


@login_required
@agent_pages
@writers_only
@agents_only
@require_http_methods(["GET", "POST"])
def ticket_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what merging the named tickets into this one moves (nothing changes); POST: merge."""
    target = get_ticket_for_user(request, pk)
    raw = (request.POST if request.method == "POST" else request.GET).get("sources", "")
    sources, missing = sources_from(request, raw)
    error, plan = "", []
    if missing:
        error = gettext("No ticket you may see: %(names)s.") % {"names": ", ".join(missing)}
    else:
        try:
            sources = actions.check_merge(target, sources, actor=request.user)
            plan = actions.merge_plan(target, sources)
            if request.method == "POST":
                actions.do_merge_tickets(target, sources, actor=request.user)
                messages.success(
                    request,
                    gettext("Merged %(numbers)s into %(target)s.")
                    % {"numbers": ", ".join(source.number for source in sources), "target": target.number},
                )
                return redirect("tickets:ticket-detail", pk=target.pk)
        except (ValidationError, PermissionDenied) as refused:
            error, plan = domain_error_message(refused), []
    context = {"ticket": target, "plan": plan, "sources_text": raw, "merge_error": error}
    return render(request, "tickets/merge_confirm.html", context, status=400 if error else 200)
