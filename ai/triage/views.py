"""Triage pages: the suggestions panel on the ticket page, accept/reject, the metrics page.

Thin views: tickets come through ``visible_to``; every write goes through ``ai.triage.actions``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from ai.triage import actions, metrics
from ai.triage.models import SuggestionStatus, TriageResult
from tickets.models import Ticket

TEMPLATE = "triage/panel.html"


def _require_agent(request: HttpRequest) -> None:
    if not request.user.is_agent:
        raise PermissionDenied(_("This needs an agent account."))


def _ticket_for(request: HttpRequest, pk: int) -> Ticket:
    return get_object_or_404(Ticket.objects.visible_to(request.user), pk=pk)


def _ticket_url(ticket: Ticket) -> str:
    try:
        return reverse("tickets:ticket-detail", args=[ticket.pk])
    except NoReverseMatch:
        return reverse("ai:triage-panel", args=[ticket.pk])


def _panel_context(ticket: Ticket, error: str = "") -> dict[str, Any]:
    results = list(ticket.triage_results.exclude(status=SuggestionStatus.RECORDED).order_by("id"))
    sentiment = ticket.sentiments.order_by("-created_at", "-id").first()
    return {
        "ticket": ticket,
        "results": results,
        # Shadow mode records without showing: the ticket is triaged even when nothing is listed.
        "triaged": bool(results) or ticket.triage_results.exists(),
        "model_version": results[0].model_version if results else "",
        "sentiment": sentiment,
        "error": error,
        "ticket_url": _ticket_url(ticket),
    }


def _render_panel(request: HttpRequest, ticket: Ticket, error: str = "", status: int = 200) -> HttpResponse:
    template = f"{TEMPLATE}#triage-panel" if request.htmx else TEMPLATE
    return render(request, template, _panel_context(ticket, error), status=status)


@login_required
@require_http_methods(["GET"])
def triage_panel(request: HttpRequest, pk: int) -> HttpResponse:
    _require_agent(request)
    return _render_panel(request, _ticket_for(request, pk))


@login_required
@require_http_methods(["POST"])
def triage_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Triage a ticket now (one opened before triage was on, say); a second run changes nothing."""
    _require_agent(request)
    ticket = _ticket_for(request, pk)
    if not ticket.can_be_changed_by(request.user):
        raise PermissionDenied(_("You may not change this ticket."))
    actions.do_triage_ticket(ticket)
    ticket.refresh_from_db()
    if request.htmx:
        response = _render_panel(request, ticket)
        return trigger_client_event(response, "ticketUpdated")
    return redirect(_ticket_url(ticket))


def _decide(request: HttpRequest, pk: int, decide, done: str) -> HttpResponse:
    _require_agent(request)
    visible = Ticket.objects.visible_to(request.user)
    result = get_object_or_404(
        TriageResult.objects.select_related("ticket").filter(ticket__in=visible), pk=pk
    )
    ticket = result.ticket
    error = ""
    try:
        decide(result, actor=request.user)
    except actions.SuggestionNotPending as problem:
        error = str(problem)
    except ValidationError as problem:
        error = " ".join(problem.messages)
    ticket.refresh_from_db()
    if request.htmx:
        # htmx swaps only 2xx answers: the panel comes back with the message in it.
        response = _render_panel(request, ticket, error)
        return response if error else trigger_client_event(response, "ticketUpdated")
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect(_ticket_url(ticket))


@login_required
@require_http_methods(["POST"])
def suggestion_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, actions.do_accept_suggestion, _("Suggestion applied."))


@login_required
@require_http_methods(["POST"])
def suggestion_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, actions.do_reject_suggestion, _("Suggestion rejected."))


@login_required
@require_http_methods(["GET"])
def metrics_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_admin:
        raise PermissionDenied(_("This needs an admin account."))
    report = metrics.triage_metrics()
    return render(request, "triage/metrics.html", {"report": report, "fields": report["fields"]})
