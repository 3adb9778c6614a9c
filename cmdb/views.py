"""Configuration-item pages: the list, one item, and the panel on the ticket page.

Agents, admins and viewers read; agents and admins link and decide suggestions; requesters do
not see the configuration database (404). Items come only through ``visible_to``; every write
goes through ``cmdb.actions``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from cmdb import actions, extensions
from cmdb.forms import ItemFilterForm, TicketLinkForm
from cmdb.models import ConfigurationItem, ItemSuggestion, SuggestionStatus, TicketItem
from cmdb.structures import normalise_hostname, normalise_ip, phrase_key
from tickets.models import Ticket

PAGE_SIZE = 50
PANEL = "cmdb/ticket_panel.html"


def require_staff(request: HttpRequest) -> None:
    if request.user.is_requester:
        raise Http404


def require_agent(request: HttpRequest) -> None:
    if not request.user.is_agent:
        raise PermissionDenied(_("This needs an agent account."))


def get_item_for_user(request: HttpRequest, pk: int) -> ConfigurationItem:
    return get_object_or_404(
        ConfigurationItem.objects.visible_to(request.user).select_related("owner_team"), pk=pk
    )


def get_ticket_for_user(request: HttpRequest, pk: int) -> Ticket:
    return get_object_or_404(Ticket.objects.visible_to(request.user), pk=pk)


# --- the list ----------------------------------------------------------------------------------
def filtered_items(user: Any, form: ItemFilterForm) -> QuerySet[ConfigurationItem]:
    items = ConfigurationItem.objects.visible_to(user).select_related("owner_team")
    if not form.is_valid():
        return items.order_by("name", "type", "id")
    values = form.cleaned_data
    for name in ("type", "environment", "status", "owner_team"):
        if values.get(name):
            items = items.filter(**{name: values[name]})
    if values.get("q"):
        items = items.search(values["q"])
    return items.order_by("name", "type", "id")


@login_required
@require_http_methods(["GET"])
def item_list(request: HttpRequest) -> HttpResponse:
    require_staff(request)
    form = ItemFilterForm(request.GET or None)
    page = Paginator(filtered_items(request.user, form), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    template = "cmdb/item_list.html#results" if request.htmx else "cmdb/item_list.html"
    return render(request, template, context)


# --- one item ----------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET"])
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_staff(request)
    item = get_item_for_user(request, pk)
    relations_out = list(item.relations_out.select_related("target").order_by("kind", "target__name"))
    relations_in = list(item.relations_in.select_related("source").order_by("kind", "source__name"))
    open_links = list(
        TicketItem.objects.on_open_tickets()
        .filter(item=item, ticket__in=Ticket.objects.visible_to(request.user))
        .select_related("ticket", "ticket__assignee")
        .order_by("-ticket__created_at")[:PAGE_SIZE]
    )
    history = list(item.events.order_by("-pgh_created_at", "-pgh_id")[:20])
    attributes = [
        (key, ", ".join(str(part) for part in value) if isinstance(value, list) else value)
        for key, value in item.typed_attributes().as_json().items()
    ]
    context = {
        "item": item,
        "attributes": attributes,
        "windows": item.windows(),
        "relations_out": relations_out,
        "relations_in": relations_in,
        "open_links": open_links,
        "history": history,
        "panels": [
            (panel, url) for panel in extensions.panels_for(request.user) if (url := _panel_url(panel, item))
        ],
    }
    return render(request, "cmdb/item_detail.html", context)


def _panel_url(panel: extensions.ItemPanel, item: ConfigurationItem) -> str:
    try:
        return reverse(panel.url_name, args=[item.pk])
    except NoReverseMatch:
        return ""  # the app that registered it is not installed


# --- the ticket page's panel ---------------------------------------------------------------------
def panel_context(ticket: Ticket, user: Any, **extra: Any) -> dict[str, Any]:
    links = list(ticket.item_links.select_related("item", "linked_by").order_by("linked_at", "id"))
    suggestions = list(
        ItemSuggestion.objects.filter(ticket=ticket, status=SuggestionStatus.PENDING)
        .select_related("item")
        .order_by("created_at", "id")
    )
    return {
        "ticket": ticket,
        "links": links,
        "suggested": [s for s in suggestions if s.item_id is not None],
        "unknown_hosts": [s for s in suggestions if s.item_id is None],
        "form": extra.pop("form", None) or TicketLinkForm(),
        "can_change": user.is_agent,
        **extra,
    }


def render_panel(request: HttpRequest, ticket: Ticket, *, status: int = 200, **extra: Any) -> HttpResponse:
    template = f"{PANEL}#panel" if request.htmx else PANEL
    return render(request, template, panel_context(ticket, request.user, **extra), status=status)


def after_change(
    request: HttpRequest, ticket: Ticket, done: str, error: str = "", **extra: Any
) -> HttpResponse:
    """HTMX gets the panel back (with the message in it); a plain post returns to the ticket."""
    if request.htmx:
        response = render_panel(request, ticket, error=error, **extra)
        return response if error else trigger_client_event(response, "ticketItemsChanged")
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect(reverse("tickets:ticket-detail", args=[ticket.pk]) + "#panel-cmdb")


@login_required
@require_http_methods(["GET"])
def ticket_panel(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    require_staff(request)
    return render_panel(request, get_ticket_for_user(request, ticket_pk))


def find_item(text: str) -> tuple[ConfigurationItem | None, str]:
    """The one item in service that ``text`` names (name, alias, host or address), or why not."""
    text = text.strip()
    keys = {phrase_key(text)}
    for key in (normalise_hostname(text), normalise_ip(text)):
        if key:
            keys.add(key)
    found = list(ConfigurationItem.objects.in_service().matching_keys(sorted(keys))[:6])
    if text.isdigit() and not found:
        found = list(ConfigurationItem.objects.in_service().filter(pk=int(text)))
    if not found:
        return None, _("No configuration item is called %(text)s.") % {"text": text}
    if len(found) > 1:
        names = ", ".join(f"{item.name} ({item.get_type_display()})" for item in found[:5])
        return None, _("%(text)s names several items: %(names)s. Use the full name.") % {
            "text": text,
            "names": names,
        }
    return found[0], ""


@login_required
@require_http_methods(["POST"])
def ticket_link(request: HttpRequest, ticket_pk: int) -> HttpResponse:
    require_staff(request)
    require_agent(request)
    ticket = get_ticket_for_user(request, ticket_pk)
    form = TicketLinkForm(request.POST)
    if not form.is_valid():
        return _refused(request, ticket, form)
    item, problem = find_item(form.cleaned_data["item"])
    if item is None:
        form.add_error("item", problem)
        return _refused(request, ticket, form)
    try:
        actions.do_link_ticket_item(ticket, item, actor=request.user, role=form.cleaned_data["role"])
    except (ValidationError, PermissionDenied) as error:
        return after_change(request, ticket, "", error=" ".join(getattr(error, "messages", [str(error)])))
    return after_change(request, ticket, _("%(name)s linked.") % {"name": item.name})


def _refused(request: HttpRequest, ticket: Ticket, form: TicketLinkForm) -> HttpResponse:
    """The form error beside the field: in the panel (HTMX), or on the panel's own page."""
    return render_panel(request, ticket, form=form, status=200 if request.htmx else 400)


@login_required
@require_http_methods(["POST"])
def ticket_unlink(request: HttpRequest, ticket_pk: int, link_pk: int) -> HttpResponse:
    require_staff(request)
    require_agent(request)
    ticket = get_ticket_for_user(request, ticket_pk)
    link = get_object_or_404(TicketItem.objects.select_related("item"), pk=link_pk, ticket=ticket)
    actions.do_unlink_ticket_item(ticket, link.item, actor=request.user, role=link.role)
    return after_change(request, ticket, _("%(name)s unlinked.") % {"name": link.item.name})


def _decide(request: HttpRequest, pk: int, *, accept: bool) -> HttpResponse:
    require_staff(request)
    require_agent(request)
    visible = Ticket.objects.visible_to(request.user)
    suggestion = get_object_or_404(
        ItemSuggestion.objects.select_related("ticket", "item").filter(ticket__in=visible), pk=pk
    )
    ticket = suggestion.ticket
    try:
        if accept:
            actions.do_accept_suggestion(suggestion, actor=request.user)
        else:
            actions.do_dismiss_suggestion(suggestion, actor=request.user)
    except actions.SuggestionDecided as error:
        return after_change(request, ticket, "", error=str(error))
    except ValidationError as error:
        return after_change(request, ticket, "", error=" ".join(error.messages))
    label = suggestion.item.name if suggestion.item else suggestion.hostname
    done = _("%(name)s linked.") if accept else _("%(name)s dismissed.")
    return after_change(request, ticket, done % {"name": label})


@login_required
@require_http_methods(["POST"])
def suggestion_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, accept=True)


@login_required
@require_http_methods(["POST"])
def suggestion_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, accept=False)
