"""The requester portal: my tickets, the service catalog, the conversation, reopening."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from itsm.approvals.views import approvals_for, card_context
from tickets import actions, extensions
from tickets.actions.autoclose import closes_at
from tickets.actions.catalog import do_request_catalog_item
from tickets.forms import (
    CatalogRequestForm,
    IncidentReportForm,
    PortalReplyForm,
    ReopenForm,
    add_domain_error,
)
from tickets.models import (
    CATALOG_APPROVAL_KIND,
    CatalogItem,
    Channel,
    Comment,
    IllegalTransition,
    Impact,
    Ticket,
    TicketStatus,
    TicketType,
)
from tickets.views.common import TICKET_RELATED, domain_error_message, newest_comments, writers_only
from tickets.views.detail import TIMELINE_ENTRIES, record_sensitive_view

if TYPE_CHECKING:
    from itsm.models import User


def get_own_ticket(request: HttpRequest, pk: int) -> Ticket:
    """A ticket the user requested (and may see); anyone else's is a 404."""
    queryset = (
        Ticket.objects.visible_to(request.user).requested_by(request.user).select_related(*TICKET_RELATED)
    )
    return get_object_or_404(queryset, pk=pk)


@login_required
@require_http_methods(["GET"])
def portal_home(request: HttpRequest) -> HttpResponse:
    tickets = (
        Ticket.objects.visible_to(request.user)
        .requested_by(request.user)
        .active()
        .select_related("assignee")
        .order_by("-updated_at", "-id")
    )
    page = Paginator(tickets, 25).get_page(request.GET.get("page"))
    return render(request, "tickets/portal_home.html", {"page": page, "tickets": page.object_list})


@login_required
@require_http_methods(["GET"])
def portal_catalog(request: HttpRequest) -> HttpResponse:
    items = CatalogItem.objects.filter(active=True).order_by("order", "name")
    return render(request, "tickets/portal_catalog.html", {"items": items})


def _create(request: HttpRequest, **fields: Any) -> Ticket:
    return actions.do_create_ticket(
        actor=request.user, requester=request.user, channel=Channel.PORTAL, **fields
    )


@login_required
@writers_only
@require_http_methods(["GET", "POST"])
def portal_request(request: HttpRequest, slug: str) -> HttpResponse:
    """A service request from a catalog item: its form is built from the item's definition."""
    item = get_object_or_404(
        CatalogItem.objects.select_related("default_category", "default_team"), slug=slug, active=True
    )
    try:
        form = CatalogRequestForm(request.POST or None, request.FILES or None, item=item)
    except ValidationError:
        # The item's definition is broken (the admin refuses such JSON; this guards old rows).
        messages.error(
            request, gettext("This request form is not available right now. Please report a problem instead.")
        )
        return redirect("tickets:portal-catalog")
    if request.method == "POST" and form.is_valid():
        try:
            ticket = do_request_catalog_item(
                item,
                actor=request.user,
                description=form.description(),
                answers=form.answers(),
                attachments=form.cleaned_data["attachments"],
                channel=Channel.PORTAL,
            )
        except ValidationError as invalid:
            add_domain_error(form, invalid)
        else:
            if ticket.status == TicketStatus.PENDING_APPROVAL:
                message = gettext(
                    "Your request %(number)s was sent. It waits for approval before we work on it."
                )
            else:
                message = gettext("Your request %(number)s was sent.")
            messages.success(request, message % {"number": ticket.number})
            return redirect("tickets:portal-ticket", pk=ticket.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "tickets/portal_request.html", {"item": item, "form": form}, status=status)


@login_required
@writers_only
@require_http_methods(["GET", "POST"])
def portal_report(request: HttpRequest) -> HttpResponse:
    """Report a problem: a plain incident."""
    form = IncidentReportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ticket = _create(
                request,
                title=data["title"],
                description=data["description"],
                type=TicketType.INCIDENT,
                impact=Impact.LOW,
                urgency=data["urgency"],
                attachments=data["attachments"],
            )
        except ValidationError as invalid:
            add_domain_error(form, invalid)
        else:
            messages.success(
                request, gettext("Your ticket %(number)s was opened.") % {"number": ticket.number}
            )
            return redirect("tickets:portal-ticket", pk=ticket.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "tickets/portal_report.html", {"form": form}, status=status)


def _approval_card(ticket: Ticket, user: User) -> dict[str, Any] | None:
    """The state of the approval a catalog request asked for: decisions and their comments."""
    if ticket.type != TicketType.SERVICE_REQUEST:
        return None
    approval = (
        approvals_for(user)
        .for_target(ticket)
        .filter(kind=CATALOG_APPROVAL_KIND)
        .order_by("-created_at", "-id")
        .first()
    )
    return None if approval is None else card_context(approval, user)


def _conversation_context(
    ticket: Ticket, user: User, *, whole: bool = False, **overrides: Any
) -> dict[str, Any]:
    """The conversation: its newest messages (as the agents' timeline), every one when ``whole``."""
    comments = (
        Comment.objects.public()
        .filter(ticket=ticket)
        .select_related("author")
        .prefetch_related("attachments")
    )
    shown, earlier = newest_comments(comments, None if whole else TIMELINE_ENTRIES)
    context = {
        "ticket": ticket,
        "comments": shown,
        "comments_earlier": earlier,
        "ticket_attachments": ticket.attachments.filter(comment__isnull=True),
        "reply_form": PortalReplyForm(),
        "reopen_form": ReopenForm(),
        "can_reply": ticket.can_take_reply_from(user),
        "can_reopen": ticket.status == TicketStatus.RESOLVED,
        "closes_at": closes_at(ticket) if ticket.status == TicketStatus.RESOLVED else None,
        # Panels other apps register for the portal (the copilot), loaded with hx-get.
        "panels": extensions.portal_panels(),
        "approval": _approval_card(ticket, user),
    }
    context.update(overrides)
    return context


@login_required
@require_http_methods(["GET"])
def portal_ticket(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_own_ticket(request, pk)
    record_sensitive_view(ticket, request.user)
    template = "tickets/portal_ticket.html#conversation" if request.htmx else "tickets/portal_ticket.html"
    whole = request.GET.get("conversation") == "all"
    return render(request, template, _conversation_context(ticket, request.user, whole=whole))


@login_required
@writers_only
@require_http_methods(["POST"])
def portal_reply(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_own_ticket(request, pk)
    form = PortalReplyForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            actions.do_add_comment(
                ticket,
                actor=request.user,
                body=form.cleaned_data["body"],
                attachments=form.cleaned_data["attachments"],
            )
        except ValidationError as invalid:
            add_domain_error(form, invalid)
    if form.is_valid() and not form.errors:
        if not request.htmx:
            messages.success(request, gettext("Reply sent."))
            return redirect(f"{reverse('tickets:portal-ticket', args=[ticket.pk])}#conversation")
        ticket = get_own_ticket(request, pk)
        response = render(
            request, "tickets/portal_ticket.html#conversation", _conversation_context(ticket, request.user)
        )
        return trigger_client_event(response, "ticketUpdated", {"id": ticket.pk})
    template = "tickets/portal_ticket.html#conversation" if request.htmx else "tickets/portal_ticket.html"
    return render(request, template, _conversation_context(ticket, request.user, reply_form=form), status=400)


@login_required
@writers_only
@require_http_methods(["POST"])
def portal_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = get_own_ticket(request, pk)
    form = ReopenForm(request.POST)
    error = ""
    if ticket.status != TicketStatus.RESOLVED:
        error, status = gettext("Only a resolved ticket can be reopened."), 409
    elif form.is_valid():
        try:
            actions.do_reopen_ticket(ticket, actor=request.user, reason=form.cleaned_data["reason"])
        except (IllegalTransition, ValidationError) as refused:
            error, status = domain_error_message(refused), 409
    else:
        error, status = " ".join(message for messages_ in form.errors.values() for message in messages_), 400
    if error:
        messages.error(request, error)
        return render(
            request,
            "tickets/portal_ticket.html",
            _conversation_context(ticket, request.user, reopen_form=form),
            status=status,
        )
    messages.success(request, gettext("We reopened %(number)s.") % {"number": ticket.number})
    return redirect("tickets:portal-ticket", pk=ticket.pk)
