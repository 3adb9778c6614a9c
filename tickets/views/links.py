"""The ticket page's links to other tickets (add, remove, a ticket picker) and the queue's
export buttons (the existing export jobs, built by the worker, announced on the bell)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from tickets import actions
from tickets.models import ExportJob, ExportStatus, Ticket, TicketRelation
from tickets.views.common import (
    agent_pages,
    agents_only,
    domain_error_message,
    get_ticket_for_user,
    writers_only,
)
from tickets.views.detail import detail_context
from tickets.views.queues import _clean_params

PICKER_SIZE = 10


def _back(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    return redirect(f"{reverse('tickets:ticket-detail', args=[ticket.pk])}#ticket-relations")


@login_required
@agent_pages
@writers_only
@agents_only
@require_http_methods(["POST"])
def relation_add(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_ticket_for_user(request, pk)
    reference = request.POST.get("target", "").strip().split(" ")[0].upper()
    kind = request.POST.get("kind", "")
    lookup = Q(number=reference) | (Q(pk=int(reference)) if reference.isdigit() else Q(pk__in=[]))
    target = Ticket.objects.visible_to(request.user).filter(lookup).first() if reference else None
    try:
        if target is None:
            raise ValidationError(
                {"target": gettext("No ticket you may see: %(name)s.") % {"name": reference or "—"}}
            )
        actions.do_add_relation(ticket, target=target, kind=kind, actor=request.user)
    except (ValidationError, PermissionDenied) as refused:
        context = detail_context(request, ticket, relation_error=domain_error_message(refused))
        return render(request, "tickets/ticket_detail.html", context, status=400)
    messages.success(request, gettext("Linked to %(number)s.") % {"number": target.number})
    return _back(request, ticket)


@login_required
@agent_pages
@writers_only
@agents_only
@require_http_methods(["POST"])
def relation_remove(request: HttpRequest, pk: int, relation_pk: int) -> HttpResponse:
    ticket = get_ticket_for_user(request, pk)
    relation = get_object_or_404(
        TicketRelation.objects.select_related("source"), Q(source=ticket) | Q(target=ticket), pk=relation_pk
    )
    actions.do_remove_relation(relation, actor=request.user)
    messages.success(request, gettext("Link removed."))
    return _back(request, ticket)


@login_required
@agent_pages
@agents_only
@require_http_methods(["GET"])
def ticket_picker(request: HttpRequest) -> HttpResponse:
    """``<option>``s of the tickets the user may see matching ``q`` (number or words), for a datalist."""
    # ``q``, or ``target``: the link form's own input asks with its name
    text = (request.GET.get("q") or request.GET.get("target") or "").strip()[:100]
    tickets: list[Ticket] = []
    if len(text) >= 2:
        visible = Ticket.objects.visible_to(request.user).only("pk", "number", "title", "status")
        if any(char.isdigit() for char in text) and "-" in text or text.isdigit():
            tickets = list(visible.filter(number__icontains=text.upper()).order_by("-pk")[:PICKER_SIZE])
        else:
            tickets = list(visible.search(text)[:PICKER_SIZE])
    return render(request, "tickets/_ticket_options.html", {"tickets": tickets})


@login_required
@agent_pages
@writers_only
@require_http_methods(["POST"])
def queue_export(request: HttpRequest) -> HttpResponse:
    """Export the queue as filtered now (``query``: its filter parameters) as CSV or JSON."""
    query = QueryDict(request.POST.get("query", ""))
    filters = _clean_params(query)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = reverse("tickets:ticket-list")
    try:
        actions.do_request_export(actor=request.user, format=request.POST.get("format", ""), filters=filters)
    except (ValidationError, PermissionDenied) as refused:
        messages.error(request, gettext("No export: %(why)s") % {"why": domain_error_message(refused)})
        return redirect(next_url)
    messages.success(request, gettext("Export requested: the bell tells you when it is ready to download."))
    return redirect(next_url)


@login_required
@require_http_methods(["GET"])
def export_download(request: HttpRequest, pk: int) -> FileResponse:
    """Your own ready export (someone else's is a 404)."""
    job = get_object_or_404(ExportJob, pk=pk, requested_by=request.user, status=ExportStatus.READY)
    try:
        handle = job.file.open("rb")
    except (FileNotFoundError, ValueError) as missing:
        raise Http404 from missing
    content_type = "text/csv" if job.format == "csv" else "application/json"
    return FileResponse(
        handle, as_attachment=True, filename=f"tickets-{job.pk}.{job.format}", content_type=content_type
    )
