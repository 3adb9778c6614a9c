"""``GET /api/kpis/`` and ``GET /api/kpis/timeseries/``: the KPI registry over HTTP.

Agents, admins and viewers read; requesters get 403. Bad input (a date that is not one, a range
ending before it starts, an unknown grouping, metric or interval) is a 400 naming what is allowed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from itsm import kpis
from itsm.analytics import snapshots

# The fields of /api/kpis/, in order.
API_FIELDS = (
    "tickets_created",
    "tickets_resolved",
    "backlog_open",
    "reopen_rate",
    "fcr_rate",
    "mttr_hours",
    "mtta_minutes",
    "frt_minutes",
    "sla_response_met_rate",
    "sla_resolution_met_rate",
    "breaches",
    "ai_triage_acceptance_rate",
    "deflection_rate",
)
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366


def _day(request: Request, name: str, default: date) -> date:
    text = request.query_params.get(name, "").strip()
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise exceptions.ValidationError(
            {"detail": f"{name} must be a date YYYY-MM-DD, not {text!r}."}
        ) from None


def _range(request: Request) -> tuple[date, date]:
    last = _day(request, "to", kpis.local_today())
    first = _day(request, "from", last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise exceptions.ValidationError({"detail": f"from ({first}) is after to ({last})."})
    if (last - first).days >= MAX_DAYS:
        raise exceptions.ValidationError({"detail": f"The range is longer than {MAX_DAYS} days."})
    return first, last


def _check_reader(request: Request) -> None:
    if request.user.is_requester:
        raise exceptions.PermissionDenied("KPIs are for agents, admins and viewers.")


def _choice(request: Request, name: str, check: Any) -> Any:
    try:
        return check(request.query_params.get(name) or None)
    except kpis.KPIInputError as error:
        raise exceptions.ValidationError({"detail": str(error)}) from None


def group_value(group_by: str | None, key: Any, label: str | None) -> Any:
    """What a grouped row says it is: a team's or category's name, an assignee's email, or the
    code of a priority, tier, channel or type; null for tickets without one."""
    if group_by is None or key in (None, ""):
        return None
    return label if group_by in ("team", "category", "assignee") else key


COMMON = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 29 days before `to`)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, included (default: today)."),
    OpenApiParameter("group_by", OpenApiTypes.STR, enum=list(kpis.GROUPINGS)),
]


@extend_schema(
    parameters=COMMON,
    responses=OpenApiTypes.OBJECT,
    summary="KPIs over a range, optionally grouped",
    description="Rates in 0..1, durations as {mean, median, p90}; null where nothing was measured. "
    "Tickets resolved in the range define MTTR; tickets created in it define FRT and MTTA.",
)
@api_view(["GET"])
def kpi_summary(request: Request) -> Response:
    _check_reader(request)
    first, last = _range(request)
    group_by = _choice(request, "group_by", kpis.check_grouping)
    start, end = kpis.day_bounds(first, last)
    result = kpis.compute(list(API_FIELDS), start, end, group_by, user=request.user)
    return Response(
        {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "group_by": group_by,
            "results": [
                {"group": group_value(group_by, row.group, row.label), **row.values} for row in result.rows
            ],
        }
    )


@extend_schema(
    parameters=[
        OpenApiParameter("metric", OpenApiTypes.STR, required=True, description="A KPI name."),
        OpenApiParameter("interval", OpenApiTypes.STR, enum=list(kpis.INTERVALS)),
        *COMMON,
    ],
    responses=OpenApiTypes.OBJECT,
    summary="One KPI per day, week or month",
    description="Daily points read the daily snapshots (today live); weekly and monthly points are "
    "computed from the tickets in one grouped query (medians and rates do not add up across days).",
)
@api_view(["GET"])
def kpi_timeseries(request: Request) -> Response:
    _check_reader(request)
    metric = request.query_params.get("metric", "").strip()
    if not metric:
        raise exceptions.ValidationError(
            {"detail": f"metric is required; allowed: {', '.join(kpis.names())}."}
        )
    _choice(request, "metric", lambda value: kpis.check_names([value]))
    interval = _choice(request, "interval", kpis.check_interval) or "day"
    group_by = _choice(request, "group_by", kpis.check_grouping)
    first, last = _range(request)
    kpi = kpis.get(metric)
    if group_by is not None and group_by not in kpi.groupings:
        raise exceptions.ValidationError(
            {
                "detail": f"{metric} cannot be grouped by {group_by}; allowed: {', '.join(kpi.groupings) or 'none'}."
            }
        )
    series: dict[Any, dict[date, Any]] = {}
    labels: dict[Any, str | None] = {}
    if interval == "day":
        stored = snapshots.series(metric, first, last, grouping=group_by, user=request.user)
        for key, points in stored.items():
            real = _key(group_by, key)
            series[real] = points
        labels = kpis.labels_for(group_by, list(series)) if group_by else {}
        buckets = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    else:
        start, end = kpis.day_bounds(first, last)
        result = kpis.compute([metric], start, end, group_by, user=request.user, interval=interval)
        for row in result.rows:
            series.setdefault(row.group, {})[row.bucket] = row.values[metric]
            labels[row.group] = row.label
        buckets = kpis.Window(start=start, end=end, interval=interval).bucket_starts()
    if not series and group_by is None:
        series[None] = {}
    return Response(
        {
            "metric": metric,
            "label": str(kpi.label),
            "unit": kpi.unit,
            "interval": interval,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "group_by": group_by,
            "series": [
                {
                    "group": group_value(group_by, key, labels.get(key)),
                    "points": [
                        {"date": bucket.isoformat(), "value": points.get(bucket, kpi.empty)}
                        for bucket in buckets
                    ],
                }
                for key, points in sorted(
                    series.items(), key=lambda item: str(labels.get(item[0]) or item[0] or "")
                )
            ],
        }
    )


def _key(group_by: str | None, stored: Any) -> Any:
    """A snapshot's group column back to the grouping's key (ids are integers)."""
    if group_by is None:
        return None
    if stored in ("", None):
        return None
    if group_by in ("team", "category", "assignee") and str(stored).isdigit():
        return int(stored)
    return stored
