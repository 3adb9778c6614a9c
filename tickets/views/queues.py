"""The queue page: saved views, filters, search, sorting, pagination and bulk actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods

from itsm.lib import listcache
from itsm.replicas import replica_reads
from tickets import actions, extensions
from tickets.filters import SORTS, CappedCountPaginator, TicketFilter, sort_tickets
from tickets.forms import BulkForm, SavedViewForm
from tickets.models import SavedView, Ticket
from tickets.models.ticket import OPEN_STATUSES
from tickets.queue_rows import load_rows
from tickets.views.common import agent_pages, domain_error_message, writers_only

QUEUE_TEMPLATE = "tickets/ticket_list.html"
PAGE_SIZES = (25, 50, 100)
# Shown at once; the others sit under "More filters" (open when one of them is in use).
PRIMARY_FILTERS = ("status", "priority", "assignee", "team")
OPEN = [str(status) for status in OPEN_STATUSES]
COUNT_STEP = 1_000  # counted_up_to()


@dataclass(frozen=True)
class BuiltinView:
    """A queue every agent has; its filters depend on who looks (``me``, my teams)."""

    slug: str
    name: str
    filters: Callable[[Any], dict[str, list[str]] | None]  # None: nothing can match


def _my_team(user: Any) -> dict[str, list[str]] | None:
    team_ids = [str(pk) for pk in user.teams.values_list("pk", flat=True)]
    return {"team": team_ids, "status": OPEN} if team_ids else None


BUILTIN_VIEWS: tuple[BuiltinView, ...] = (
    BuiltinView("my-open", gettext_lazy("My open"), lambda user: {"assignee": ["me"], "status": OPEN}),
    BuiltinView(
        "unassigned", gettext_lazy("Unassigned"), lambda user: {"assignee": ["none"], "status": OPEN}
    ),
    BuiltinView("my-team", gettext_lazy("My team"), _my_team),
    BuiltinView(
        "critical", gettext_lazy("Critical"), lambda user: {"priority": ["critical"], "status": OPEN}
    ),
    BuiltinView("recently-updated", gettext_lazy("Recently updated"), lambda user: {"sort": ["-updated"]}),
)
BUILTIN_BY_SLUG = {view.slug: view for view in BUILTIN_VIEWS}


def query_keys() -> set[str]:
    """The parameters a queue is made of (what a saved view keeps)."""
    return {*TicketFilter.base_filters, *extensions.queue_filters, "sort"}


def _clean_params(params: QueryDict) -> dict[str, list[str]]:
    keys = query_keys()
    cleaned = {
        key: [value for value in params.getlist(key) if value.strip()] for key in params if key in keys
    }
    return {key: values for key, values in cleaned.items() if values}


def _as_querydict(filters: dict[str, list[str]]) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, values in filters.items():
        if key in query_keys():
            data.setlist(key, [str(value) for value in (values if isinstance(values, list) else [values])])
    return data


def counted_up_to(page: str, page_size: int) -> int:
    """How far the queue counts its tickets: the first whole ``COUNT_STEP`` past the end of the
    page shown (1,000 on the first pages, 2,000 from page 40 at 25 a page…). Below
    that the count is exact; above, the page says "More than 1,000 tickets" and every further
    page stays one "Next" away. Counting 10,001 visible tickets on every view was the queue
    page's slowest query (an index-only scan of 2–4 ms at 100,000 tickets, bench/queue_page.py);
    a queue larger than a thousand is narrowed by its filters, not read to the end."""
    number = int(page) if page.isdigit() and len(page) <= 9 and int(page) > 0 else 1
    end = number * page_size  # past the page's last row, so that a next page shows when there is one
    return (end // COUNT_STEP + 1) * COUNT_STEP


def resolve_queue(user: Any, params: QueryDict) -> tuple[QueryDict, dict[str, Any]]:
    """The filter parameters of the request and which saved view (if any) they come from."""
    current: dict[str, Any] = {"slug": "", "saved": None, "empty": False}
    slug = params.get("view", "")
    saved_id = params.get("saved", "")
    if slug in BUILTIN_BY_SLUG:
        filters = BUILTIN_BY_SLUG[slug].filters(user)
        current["slug"] = slug
        if filters is None:
            current["empty"] = True
            filters = {}
        return _as_querydict(filters), current
    if saved_id.isdigit():
        # Your own views and the shared ones (no owner); never someone else's.
        saved = SavedView.objects.filter(Q(owner=user) | Q(owner__isnull=True), pk=int(saved_id)).first()
        if saved is not None and isinstance(saved.filters, dict):
            current["saved"] = saved
            return _as_querydict(saved.filters), current
    data = QueryDict(mutable=True)
    for key, values in _clean_params(params).items():
        data.setlist(key, values)
    return data, current


def queue_context(request: HttpRequest, params: QueryDict, *, frame: bool = True) -> dict[str, Any]:
    """Everything the queue page shows, in a fixed number of queries whatever the page size;
    without ``frame``, what its table shows (an HTMX refresh of the table)."""
    user = request.user
    data, current = resolve_queue(user, params)
    filterset = TicketFilter(data, queryset=Ticket.objects.visible_to(user), request=request)
    valid = filterset.is_valid()
    queryset = filterset.qs if valid and not current["empty"] else Ticket.objects.none()
    search = (data.get("search") or "").strip()
    sort = data.get("sort", "")
    queryset = sort_tickets(queryset, sort, searching=bool(search) and valid)
    page_size = int(params.get("page_size")) if params.get("page_size", "").isdigit() else PAGE_SIZES[0]
    page_size = page_size if page_size in PAGE_SIZES else PAGE_SIZES[0]
    # The page's ids under the filters and the sort, then its rows by id (tickets/queue_rows.py).
    ids = queryset.values_list("pk", flat=True)
    count_limit = counted_up_to(params.get("page", ""), page_size)
    page = CappedCountPaginator(ids, page_size, count_limit=count_limit).get_page(params.get("page"))
    columns = extensions.columns()
    tickets = load_rows(list(page.object_list), columns)
    # The current query without the page number, for pagination, sorting links and saving.
    base_query = data.copy()
    if page_size != PAGE_SIZES[0]:
        base_query["page_size"] = str(page_size)
    query = params.urlencode()
    context = {
        # What the table polls and where a bulk action comes back to: this very list.
        "poll_url": f"{reverse('tickets:ticket-list')}?{query}" if query else reverse("tickets:ticket-list"),
        "page": page,
        "tickets": tickets,
        "filterset": filterset,
        "filter_errors": not valid,
        "current": current,
        "base_query": base_query.urlencode(),
        "sort": sort,
        "columns": columns,
        "can_write": user.can_write(),
        "page_size": page_size,
    }
    if frame:  # the page around the table: views, filter bar, bulk form (not for a table refresh)
        context.update(
            builtin_views=BUILTIN_VIEWS,
            save_query=data.urlencode(),
            sort_choices=_sort_choices(),
            extra_filters=_extra_filters(data),
            primary_filters=PRIMARY_FILTERS,
            more_filters_used=any(
                key not in PRIMARY_FILTERS and key not in ("search", "sort") for key in _clean_params(data)
            ),
            saved_view_form=SavedViewForm(),
            page_sizes=PAGE_SIZES,
        )
        context["frame"], context["saved_views"] = _frame(request, context, data, valid)
    return context


def _frame(
    request: HttpRequest, context: dict[str, Any], data: QueryDict, valid: bool
) -> tuple[dict[str, Any], list[SavedView]]:
    """The filter bar and the bulk form, from the list cache (``itsm/lib/listcache.py``) while
    nothing they list has changed: about twenty selects and five queries of choice lists, a
    third of the page's time. The filter bar is the same for every agent (keyed by the filters
    in use, not the search words, written outside it, so typing does not fill the cache; with
    errors it is not kept); the bulk form and the saved views are each agent's (the macros they
    may use, their views and the shared ones). Returns the frame's HTML and the saved views."""
    shown = data.copy()
    shown.pop("search", None)
    wanted: dict[str, tuple[tuple[Any, ...] | None, Callable[[], Any]]] = {
        "queue-filters": (
            (shown.urlencode(), context["page_size"]) if valid else None,
            lambda: render_to_string(f"{QUEUE_TEMPLATE}#filter_fields", context, request),
        )
    }
    if context["can_write"]:
        wanted["queue-bulk"] = (
            (request.user.pk,),
            lambda: render_to_string(
                f"{QUEUE_TEMPLATE}#bulk_fields",
                {**context, "bulk_form": BulkForm(user=request.user)},
                request,
            ),
        )
    user = request.user
    wanted["queue-views"] = (
        (user.pk,),
        lambda: list(
            SavedView.objects.filter(Q(owner=user) | Q(owner__isnull=True)).order_by("order", "name")
        ),
    )
    html = listcache.cached(wanted)
    frame = {
        "filters": mark_safe(html["queue-filters"]),  # noqa: S308 - rendered templates
        "bulk": mark_safe(html.get("queue-bulk", "")),  # noqa: S308 - as above
    }
    return frame, html["queue-views"]


def _sort_choices() -> list[tuple[str, str]]:
    labels = {
        "created": gettext("Created"),
        "updated": gettext("Updated"),
        "priority": gettext("Priority"),
        "number": gettext("Number"),
        "title": gettext("Title"),
        "status": gettext("Status"),
    }
    choices = [("", gettext("Best match / newest"))]
    for key in SORTS:
        label = labels.get(key, key)
        choices += [
            (f"-{key}", gettext("%(field)s, newest or highest first") % {"field": label}),
            (key, gettext("%(field)s, oldest or lowest first") % {"field": label}),
        ]
    for key, extra in extensions.queue_sorts.items():
        choices += [(key, str(extra.label)), (f"-{key}", f"{extra.label} ↓")]
    return choices


def _extra_filters(data: QueryDict) -> list[dict[str, Any]]:
    return [
        {"name": name, "label": extra.label, "choices": extra.choices, "selected": data.getlist(name)}
        for name, extra in extensions.queue_filters.items()
    ]


@replica_reads
@login_required
@agent_pages
@require_http_methods(["GET"])
def ticket_list(request: HttpRequest) -> HttpResponse:
    table_only = bool(request.htmx and not request.htmx.boosted)
    context = queue_context(request, request.GET, frame=not table_only)
    return render(request, f"{QUEUE_TEMPLATE}#queue" if table_only else QUEUE_TEMPLATE, context)


# --- saved views ---------------------------------------------------------------------------------
@login_required
@agent_pages
@writers_only
@require_http_methods(["POST"])
def saved_view_create(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("A saved view needs a name."))
        return redirect(_back_to_queue(request.POST.get("query", "")))
    filters = _clean_params(QueryDict(form.cleaned_data["query"]))
    name = form.cleaned_data["name"].strip()
    base = slugify(name)[:40] or "view"
    taken = set(
        SavedView.objects.filter(owner=request.user, slug__startswith=base).values_list("slug", flat=True)
    )
    slug = next(
        candidate for candidate in [base, *(f"{base}-{n}" for n in range(2, 1000))] if candidate not in taken
    )
    try:
        with transaction.atomic():
            view = SavedView.objects.create(owner=request.user, name=name, slug=slug, filters=filters)
    except IntegrityError:
        messages.error(request, gettext("You already have a view with that name."))
        return redirect(_back_to_queue(form.cleaned_data["query"]))
    messages.success(request, gettext("Saved the view “%(name)s”.") % {"name": name})
    return redirect(f"{reverse('tickets:ticket-list')}?saved={view.pk}")


@login_required
@agent_pages
@writers_only
@require_http_methods(["POST"])
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, owner=request.user)  # only your own views
    view.delete()
    messages.success(request, gettext("Deleted the view “%(name)s”.") % {"name": view.name})
    return redirect("tickets:ticket-list")


def _back_to_queue(query: str) -> str:
    return f"{reverse('tickets:ticket-list')}?{query}" if query else reverse("tickets:ticket-list")


# --- bulk actions ------------------------------------------------------------------------------------
def apply_bulk_action(ids: list[int], data: dict[str, Any], *, actor: Any) -> list[str]:
    """One action on every ticket through ``do_bulk_action``: all or nothing; returns the refusals."""
    try:
        actions.do_bulk_action(
            ids,
            actor=actor,
            action=data["action"],
            assignee=data.get("assignee"),
            team=data.get("team"),
            status=data.get("status") or "",
            resolution=data.get("resolution") or "",
            reason=data.get("reason") or "",
            priority=data.get("priority") or "",
            tags=[data["tag"]] if data.get("tag") else [],
            macro=data.get("macro"),
        )
    except actions.BulkActionError as refused:
        return [
            message if ": " in message else f"#{ticket_id}: {message}"
            for ticket_id, message in sorted(refused.errors.items())
        ]
    except ValidationError as invalid:
        return [domain_error_message(invalid)]
    return []


def _safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next", "")
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure()):
        return candidate
    return reverse("tickets:ticket-list")


@login_required
@agent_pages
@writers_only
@require_http_methods(["POST"])
def ticket_bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST, user=request.user)
    next_url = _safe_next(request)
    status = 200
    if not form.is_valid():
        errors = "; ".join(
            f"{form.fields[name].label if name in form.fields else ''} {' '.join(errs)}".strip()
            for name, errs in form.errors.items()
        )
        messages.error(request, gettext("Nothing was changed: %(errors)s") % {"errors": errors})
        status = 400
    else:
        ids = form.cleaned_data["ids"]
        failures = apply_bulk_action(ids, form.cleaned_data, actor=request.user)
        if failures:
            messages.error(
                request,
                gettext("Nothing was changed; %(count)s ticket(s) refused the action: %(list)s")
                % {"count": len(failures), "list": " · ".join(failures)},
            )
            status = 409
        else:
            messages.success(request, gettext("Updated %(count)s ticket(s).") % {"count": len(ids)})
    if request.htmx:
        params = QueryDict(urlsplit(next_url).query)
        return render(
            request, f"{QUEUE_TEMPLATE}#queue", queue_context(request, params, frame=False), status=status
        )
    if status == 200:
        return redirect(next_url)
    params = QueryDict(urlsplit(next_url).query)
    return render(request, QUEUE_TEMPLATE, queue_context(request, params), status=status)
