"""The SLA panel of the ticket page (a ``tickets.extensions.DetailPanel``), loaded with hx-get;
the same URL without htmx is a plain page, so the panel's link works without JavaScript."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from sla.models import Metric, RiskMode
from sla.templatetags.sla_tags import describe
from tickets.models import Ticket


def get_ticket_for_sla(request: HttpRequest, pk: int) -> Ticket:
    """A ticket the user may see, and may see the SLA of (agents, admins, viewers)."""
    if not (request.user.is_agent or request.user.is_viewer):
        raise PermissionDenied("SLA details are for agents and viewers.")
    return get_object_or_404(Ticket.objects.visible_to(request.user), pk=pk)


@login_required
@require_http_methods(["GET"])
def ticket_panel(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_ticket_for_sla(request, pk)
    now = timezone.now()
    clocks = {clock.metric: clock for clock in ticket.sla_clocks.select_related("policy", "calendar")}
    rows = [
        {
            "metric": metric,
            "label": label,
            "clock": clocks.get(metric),
            "view": describe(clocks[metric], now) if metric in clocks else None,
        }
        for metric, label in Metric.choices
    ]
    risk = None
    if settings.SLA_RISK_MODE == RiskMode.ASSIST:
        risk = ticket.sla_risk_evaluations.order_by("-created_at", "-pk").first()
    context = {
        "ticket": ticket,
        "rows": rows,
        "pauses": list(ticket.sla_pauses.order_by("-started_at", "-pk")[:20]),
        "events": list(ticket.sla_events.select_related("clock").order_by("-created_at", "-pk")[:30]),
        "risk": risk,
        "now": now,
    }
    template = "sla/ticket_panel.html#panel" if request.htmx else "sla/ticket_panel.html"
    return render(request, template, context)
