"""Time tracking pages: the work log panel of a ticket, and the time report (HTML and CSV)."""

from __future__ import annotations

import csv
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from tickets import actions
from tickets.forms import WorkLogForm, add_domain_error
from tickets.models import Ticket, WorkLog
from tickets.views.common import agent_pages, agents_only, get_ticket_for_user, writers_only
from tickets.views.detail import worklog_context

REPORT_GROUPS = {
    # name: (label, the value grouped by, what shows it)
    "agent": ("user", ("user__full_name", "user__email")),
    "team": ("ticket__team", ("ticket__team__name",)),
    "organisation": ("ticket__organisation", ("ticket__organisation__name",)),
    "ticket": ("ticket", ("ticket__number", "ticket__title")),
}
REPORT_MAX_DAYS = 366


def _panel(request: HttpRequest, ticket: Ticket, *, status: int = 200, **overrides: Any) -> HttpResponse:
    context = {
        "ticket": ticket,
        "can_change": True,
        "can_write": request.user.can_write(),
        **worklog_context(ticket, **overrides),
    }
    return render(request, "tickets/ticket_detail.html#worklogs", context, status=status)


@login_required
@agent_pages
@agents_only
@require_http_methods(["GET", "POST"])
def ticket_worklogs(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the panel (HTMX) or the page; POST: log time on its own (with a note)."""
    ticket = get_ticket_for_user(request, pk)
    page = f"{reverse('tickets:ticket-detail', args=[ticket.pk])}#time"
    if request.method == "GET":
        return _panel(request, ticket) if request.htmx else redirect(page)
    if not request.user.can_write():
        return HttpResponse(status=403)
    form = WorkLogForm(request.POST)
    if form.is_valid():
        try:
            actions.do_log_work(
                ticket,
                actor=request.user,
                minutes=form.cleaned_data["minutes"],
                note=form.cleaned_data["note"],
                billable=form.cleaned_data["billable"],
            )
        except ValidationError as invalid:
            add_domain_error(form, invalid)
    if not form.is_valid() or form.errors:
        if request.htmx:
            return _panel(request, ticket, status=400, worklog_form=form)
        messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
        return redirect(page)
    if request.htmx:
        return trigger_client_event(_panel(request, ticket), "timeLogged", {"id": ticket.pk})
    messages.success(request, gettext("Time logged."))
    return redirect(page)


@login_required
@agent_pages
@writers_only
@agents_only
@require_http_methods(["POST"])
def worklog_delete(request: HttpRequest, pk: int, worklog_pk: int) -> HttpResponse:
    ticket = get_ticket_for_user(request, pk)
    worklog = get_object_or_404(WorkLog, pk=worklog_pk, ticket=ticket)
    actions.do_delete_worklog(worklog, actor=request.user)
    if request.htmx:
        return _panel(request, ticket)
    return redirect(f"{reverse('tickets:ticket-detail', args=[ticket.pk])}#time")


def report_range(params: Any) -> tuple[datetime, datetime, str]:
    """[start, end) from ``since``/``until`` dates (default: the last 30 days); an error text if bad."""
    today = timezone.localdate()
    since_text, until_text = params.get("since", ""), params.get("until", "")
    since = parse_date(since_text) if since_text else today - timedelta(days=29)
    until = parse_date(until_text) if until_text else today
    if since is None or until is None:
        return *_bounds(today - timedelta(days=29), today), gettext("Dates are written YYYY-MM-DD.")
    if until < since or (until - since).days > REPORT_MAX_DAYS:
        return *_bounds(today - timedelta(days=29), today), gettext(
            "The range runs forward and spans at most a year."
        )
    return *_bounds(since, until), ""


def _bounds(since: Any, until: Any) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(since, time.min, tzinfo=tz),
        datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz),
    )


def report_rows(user: Any, start: datetime, end: datetime, group: str) -> list[dict[str, Any]]:
    """Totals per group over the entries on tickets the user may see: one aggregate query."""
    key, shown = REPORT_GROUPS[group]
    rows = (
        WorkLog.objects.filter(ticket__in=Ticket.objects.visible_to(user))
        .between(start, end)
        .values(key, *shown)
        .annotate(
            total=Sum("minutes"),
            billable_total=Sum("minutes", filter=Q(billable=True), default=0),
            tickets=Count("ticket", distinct=True),
            entries=Count("id"),
        )
        .order_by("-total", key)
    )
    return [
        {
            "name": " ".join(str(row[name]) for name in shown if row[name]) or gettext("(none)"),
            "minutes": row["total"],
            "billable": row["billable_total"],
            "tickets": row["tickets"],
            "entries": row["entries"],
        }
        for row in rows
    ]


@login_required
@agent_pages
@agents_only
@require_http_methods(["GET"])
def time_report(request: HttpRequest) -> HttpResponse:
    group = request.GET.get("group", "agent")
    error = ""
    if group not in REPORT_GROUPS:
        group, error = "agent", gettext("Group by agent, team, organisation or ticket.")
    start, end, range_error = report_range(request.GET)
    error = error or range_error
    rows = report_rows(request.user, start, end, group)
    if request.GET.get("format") == "csv" and not error:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="time-{group}-{start:%Y%m%d}.csv"'
        writer = csv.writer(response)
        writer.writerow([group, "minutes", "billable_minutes", "tickets", "entries"])
        for row in rows:
            writer.writerow([row["name"], row["minutes"], row["billable"], row["tickets"], row["entries"]])
        return response
    context = {
        "rows": rows,
        "group": group,
        "groups": [
            ("agent", gettext("Agent")),
            ("team", gettext("Team")),
            ("organisation", gettext("Organisation")),
            ("ticket", gettext("Ticket")),
        ],
        "since": start.date(),
        "until": (end - timedelta(days=1)).date(),
        "total_minutes": sum(row["minutes"] for row in rows),
        "total_billable": sum(row["billable"] for row in rows),
        "report_error": error,
        "csv_query": request.GET.urlencode(),
    }
    return render(request, "tickets/time_report.html", context, status=400 if error else 200)
