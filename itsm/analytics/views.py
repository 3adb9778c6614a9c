"""The desk dashboard (``/dashboard/``): KPI tiles with the change against the previous period,
trend charts, breakdowns by team, priority, category and tier, CSV downloads, and the
before/after comparison. Agents and admins; viewers read it too (it changes nothing);
requesters never (403)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from itsm import kpis
from itsm.analytics import charts, report, snapshots
from itsm.replicas import replica_reads

RANGES = (7, 30, 90)
BREAKDOWNS = ("team", "priority", "category", "tier")
BREAKDOWN_KPIS = (
    "tickets_created",
    "tickets_resolved",
    "backlog_open",
    "mttr_hours",
    "sla_resolution_met_rate",
)
MAX_DAYS = 366
# The dashboard's panels, each loaded (and refreshed) on its own.
PANELS = ("tiles", "trends", "breakdowns")


def _reader(request: HttpRequest) -> None:
    if request.user.is_requester:
        raise PermissionDenied("The dashboard is for agents, admins and viewers.")


@dataclass
class Filters:
    first: date
    last: date
    days: int
    team: int | None
    errors: dict[str, str]

    @property
    def query(self) -> str:
        params: dict[str, Any] = {"from": self.first.isoformat(), "to": self.last.isoformat()}
        if self.team:
            params["team"] = self.team
        return urlencode(params)

    @property
    def filters(self) -> dict[str, Any]:
        return {"team": self.team} if self.team else {}


def parse_filters(request: HttpRequest) -> Filters:
    """Range (``days`` preset or ``from``/``to``) and team; a bad value falls back, with its error."""
    errors: dict[str, str] = {}
    today = kpis.local_today()
    days = 30
    raw_days = request.GET.get("days", "")
    if raw_days:
        if raw_days.isdigit() and int(raw_days) in RANGES:
            days = int(raw_days)
        else:
            errors["days"] = _("Choose 7, 30 or 90 days.")
    last, first = today, today - timedelta(days=days - 1)
    if request.GET.get("from") or request.GET.get("to"):
        try:
            last = date.fromisoformat(request.GET.get("to") or today.isoformat())
            first = date.fromisoformat(request.GET.get("from") or (last - timedelta(days=29)).isoformat())
        except ValueError:
            errors["from"] = _("Dates are YYYY-MM-DD.")
            last, first = today, today - timedelta(days=days - 1)
        else:
            if first > last:
                errors["from"] = _("The range ends before it starts.")
                last, first = today, today - timedelta(days=days - 1)
            elif (last - first).days >= MAX_DAYS:
                errors["from"] = _("Choose a range of at most a year.")
                first = last - timedelta(days=MAX_DAYS - 1)
            elif last > today:
                last = today
    team = None
    raw_team = request.GET.get("team", "")
    if raw_team:
        valid = dict(kpis.grouping("team").choices())
        if raw_team.isdigit() and int(raw_team) in valid:
            team = int(raw_team)
        else:
            errors["team"] = _("Unknown team.")
    return Filters(first=first, last=last, days=(last - first).days + 1, team=team, errors=errors)


def _change(kpi: kpis.KPI, now: Any, before: Any) -> dict[str, Any]:
    now, before = kpis.headline(now), kpis.headline(before)
    if now is None or before is None:
        return {"delta": None, "percent": None, "tone": ""}
    delta = round(now - before, 4)
    percent = round(100 * delta / before) if before else None
    tone = ""
    if delta and kpi.better:
        tone = "ok" if (delta > 0) == (kpi.better == "up") else "bad"
    return {"delta": delta, "percent": percent, "tone": tone}


def breakdown_figures(request: HttpRequest, selected: Filters) -> dict[str | None, kpis.Result]:
    """The four breakdowns of the range, in one pass per compute function (the tiles, with
    their costlier KPIs, are computed once for the whole desk)."""
    start, end = kpis.day_bounds(selected.first, selected.last)
    return kpis.compute_sets(
        list(BREAKDOWN_KPIS), start, end, list(BREAKDOWNS), user=request.user, filters=selected.filters
    )


def tiles(
    request: HttpRequest, selected: Filters, current: kpis.Result | None = None
) -> list[dict[str, Any]]:
    items = kpis.tiles()
    names = [kpi.name for kpi in items]
    start, end = kpis.day_bounds(selected.first, selected.last)
    span = end - start
    if current is None:
        current = kpis.compute(names, start, end, user=request.user, filters=selected.filters)
    previous = kpis.compute(names, start - span, start, user=request.user, filters=selected.filters)
    result = []
    for kpi in items:
        value, before = current.value(kpi.name), previous.value(kpi.name)
        result.append(
            {"kpi": kpi, "value": value, "headline": kpis.headline(value), "before": kpis.headline(before),
             **_change(kpi, value, before)}
        )  # fmt: skip
    return result


def trends(request: HttpRequest, selected: Filters) -> list[charts.Chart]:
    days = [selected.first + timedelta(days=n) for n in range(selected.days)]
    filters = selected.filters

    def daily(name: str) -> dict[date, Any]:
        return snapshots.series(name, selected.first, selected.last, filters=filters, user=request.user).get(
            None, {}
        )

    created, resolved, backlog = daily("tickets_created"), daily("tickets_resolved"), daily("backlog_open")
    mttr, met = daily("mttr_hours"), daily("sla_resolution_met_rate")

    def values(points: dict[date, Any], pick: Any = None) -> list[Any]:
        out = []
        for day in days:
            value = points.get(day)
            out.append((value or {}).get(pick) if pick else value)
        return out

    return [
        charts.line_chart(
            "created-resolved", _("Created and resolved per day"), _("tickets"), days,
            [(_("Created"), values(created)), (_("Resolved"), values(resolved))],
        ),
        charts.line_chart("backlog", _("Open backlog at the end of each day"), _("tickets"), days,
                          [(_("Open"), values(backlog))]),
        charts.line_chart(
            "mttr", _("Time to resolve (tickets resolved that day)"), _("hours"), days,
            [(_("Median"), values(mttr, "median")), (_("90th percentile"), values(mttr, "p90"))],
        ),
        charts.line_chart("sla-met", _("Resolution SLA met"), _("share of clocks"), days,
                          [(_("Met"), values(met))], percent=True),
    ]  # fmt: skip


def breakdown(
    request: HttpRequest, selected: Filters, grouping: str, result: kpis.Result | None = None
) -> dict[str, Any]:
    if result is None:
        start, end = kpis.day_bounds(selected.first, selected.last)
        result = kpis.compute(
            list(BREAKDOWN_KPIS), start, end, grouping, user=request.user, filters=selected.filters
        )
    return {
        "grouping": grouping,
        "label": kpis.grouping(grouping).label,
        "columns": [kpis.get(name) for name in BREAKDOWN_KPIS],
        "rows": [
            {"label": row.label or _("(none)"), "values": [row.values[name] for name in BREAKDOWN_KPIS]}
            for row in result.rows
        ],
    }


@replica_reads
@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The page itself: filters and a placeholder per panel, each loaded by HTMX from
    ``dashboard_panel`` (the page answers at once; each panel's figures cost what they cost)."""
    _reader(request)
    selected = parse_filters(request)
    context = {
        "selected": selected,
        "ranges": RANGES,
        "teams": kpis.grouping("team").choices(),
        "panels": PANELS,
    }
    return render(request, "itsm/dashboard.html", context, status=400 if selected.errors else 200)


def panel_context(request: HttpRequest, selected: Filters, panel: str) -> dict[str, Any]:
    """The figures of one panel of the dashboard."""
    if panel == "tiles":
        return {"tiles": tiles(request, selected)}
    if panel == "trends":
        return {"charts": trends(request, selected)}
    current = breakdown_figures(request, selected)
    return {
        "breakdowns": [breakdown(request, selected, grouping, current[grouping]) for grouping in BREAKDOWNS]
    }


@login_required
@require_GET
def dashboard_panel(request: HttpRequest, panel: str) -> HttpResponse:
    """One panel of the dashboard (``tiles``, ``trends``, ``breakdowns``): the HTMX fragment that
    replaces its placeholder and refreshes itself every 30 seconds, or (without JavaScript) a
    page of its own."""
    _reader(request)
    if panel not in PANELS:
        return HttpResponse(
            f"Unknown panel {panel!r}; allowed: {', '.join(PANELS)}.", status=404, content_type="text/plain"
        )
    selected = parse_filters(request)
    if selected.errors:
        return HttpResponse("; ".join(selected.errors.values()), status=400, content_type="text/plain")
    context = {"selected": selected, "panel": panel, "refreshed_at": timezone.now()}
    context.update(panel_context(request, selected, panel))
    if request.htmx:
        return render(request, f"itsm/dashboard.html#panel-{panel}", context)
    return render(request, "itsm/dashboard_panel.html", context)


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[_cell(value) for value in row] for row in rows])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict):
        return value.get("median", "")
    return value


@replica_reads
@login_required
@require_GET
def dashboard_csv(request: HttpRequest, table: str) -> HttpResponse:
    """Any table of the dashboard as CSV: ``tiles``, ``trends``, or a breakdown (``team`` …)."""
    _reader(request)
    selected = parse_filters(request)
    if selected.errors:
        return HttpResponse("; ".join(selected.errors.values()), status=400, content_type="text/plain")
    name = f"kpis-{table}-{selected.first}-{selected.last}"
    if table == "tiles":
        rows = [
            [item["kpi"].name, item["headline"], item["before"], item["delta"], item["percent"]]
            for item in tiles(request, selected)
        ]
        return _csv(name, ["kpi", "value", "previous_period", "change", "change_percent"], rows)
    if table == "trends":
        made = trends(request, selected)
        header = ["date"] + [f"{chart.id}:{series.label}" for chart in made for series in chart.series]
        rows = [
            [day.isoformat()] + [series.values[index] for chart in made for series in chart.series]
            for index, day in enumerate(made[0].days)
        ]
        return _csv(name, header, rows)
    if table in BREAKDOWNS:
        data = breakdown(request, selected, table)
        header = [table] + [
            f"{name}{'_median' if kpis.get(name).distribution else ''}" for name in BREAKDOWN_KPIS
        ]
        return _csv(name, header, [[row["label"], *row["values"]] for row in data["rows"]])
    return HttpResponse(
        f"Unknown table {table!r}; allowed: tiles, trends, {', '.join(BREAKDOWNS)}.",
        status=404,
        content_type="text/plain",
    )


@replica_reads
@login_required
@require_GET
def dashboard_compare(request: HttpRequest) -> HttpResponse:
    """Before/after: the same figures as ``manage.py kpi_report``, as a page or CSV."""
    _reader(request)
    errors: dict[str, str] = {}
    lines: list[report.Line] = []
    periods: dict[str, Any] = {}
    group_by = request.GET.get("group_by") or None
    if request.GET.get("before") or request.GET.get("after"):
        try:
            periods["before"] = report.parse_period(request.GET.get("before", ""), "before")
        except kpis.KPIInputError as error:
            errors["before"] = str(error)
        try:
            periods["after"] = report.parse_period(request.GET.get("after", ""), "after")
        except kpis.KPIInputError as error:
            errors["after"] = str(error)
        try:
            group_by = kpis.check_grouping(group_by)
        except kpis.KPIInputError as error:
            errors["group_by"] = str(error)
        if not errors:
            lines = report.compare(
                None, periods["before"], periods["after"], group_by=group_by, user=request.user
            )
            if request.GET.get("format") == "csv":
                response = HttpResponse(report.as_csv(lines), content_type="text/csv; charset=utf-8")
                response["Content-Disposition"] = 'attachment; filename="kpis-before-after.csv"'
                return response
    return render(
        request,
        "itsm/dashboard_compare.html",
        {
            "lines": lines,
            "errors": errors,
            "values": request.GET,
            "groupings": [(name, kpis.grouping(name).label) for name in kpis.groupings()],
            "group_by": group_by,
        },
        status=400 if errors else 200,
    )
