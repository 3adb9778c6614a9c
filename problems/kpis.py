"""The problems app's KPIs (see ``itsm.kpis``): incidents linked, known errors, recurrence,
problems opened and resolved, incidents per problem."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm import kpis
from itsm.kpis import KPI, Computed, Kind, Unit, Window
from tickets.kpis import run, scope


def compute_links(window: Window, names: Sequence[str]) -> Computed:
    """Incidents linked in the window, and recurrences: incidents created in the window and
    linked to a problem that existed before them (the cause came back)."""
    joins, group, conditions = scope(window)
    sql = (
        f"SELECT b, g, sum(linked), sum(recurred) FROM ("  # noqa: S608
        f" SELECT {window.bucket('l.linked_at')} AS b, {group} AS g, 1 AS linked, 0 AS recurred"
        f" FROM problems_problemincident l JOIN tickets_ticket t ON t.id = l.ticket_id {joins}"
        f" WHERE l.linked_at >= %(start)s AND l.linked_at < %(end)s{conditions}"
        f" UNION ALL SELECT {window.bucket('t.created_at')}, {group}, 0, 1"
        " FROM problems_problemincident l JOIN tickets_ticket t ON t.id = l.ticket_id"
        f" JOIN problems_problem p ON p.id = l.problem_id {joins}"
        " WHERE t.created_at >= %(start)s AND t.created_at < %(end)s AND p.created_at < t.created_at"
        f"{conditions}) AS events GROUP BY 1, 2"
    )
    return {
        (bucket, key): {"incidents_linked": int(linked), "recurrences": int(recurred)}
        for bucket, key, linked, recurred in run(sql, window.params)
    }


# Problems carry their own team and category.
PROBLEM_COLUMNS = {"team": "p.team_id", "category": "p.category_id"}


def _problem_scope(window: Window) -> tuple[str, str]:
    """The group column and filter conditions over the problem alias ``p`` (its own team and
    category)."""
    group = "NULL" if window.group_sets else PROBLEM_COLUMNS.get(window.group_by or "", "NULL")
    conditions = "".join(
        f" AND {PROBLEM_COLUMNS[name]} = %(filter_{index})s"
        for index, (name, _key) in enumerate(window.filters)
    )
    return group, conditions


def compute_problem_flow(window: Window, names: Sequence[str]) -> Computed:
    """Problems opened in the range (created_at) with the incidents linked to them now, and
    problems resolved in the range (resolved_at, still resolved or closed). A problem merged
    into another (duplicate_of) counts as opened but not in incidents per problem (its
    incidents moved to the kept one) and is never resolved."""
    if window.group_sets and not window.includes_desk:
        return {}
    group, conditions = _problem_scope(window)
    sql = (
        f"SELECT b, g, sum(opened), sum(resolved), sum(incidents), sum(kept) FROM ("  # noqa: S608
        f" SELECT {window.bucket('p.created_at')} AS b, {group} AS g, 1 AS opened, 0 AS resolved,"
        " (SELECT count(*) FROM problems_problemincident l WHERE l.problem_id = p.id) AS incidents,"
        " CASE WHEN p.duplicate_of_id IS NULL THEN 1 ELSE 0 END AS kept"
        " FROM problems_problem p"
        f" WHERE p.created_at >= %(start)s AND p.created_at < %(end)s{conditions}"
        f" UNION ALL SELECT {window.bucket('p.resolved_at')}, {group}, 0, 1, 0, 0 FROM problems_problem p"
        " WHERE p.resolved_at >= %(start)s AND p.resolved_at < %(end)s"
        f" AND p.status IN ('resolved', 'closed') AND p.duplicate_of_id IS NULL{conditions}"
        ") AS events GROUP BY 1, 2"
    )
    result: Computed = {}
    for bucket, key, opened, resolved, incidents, kept in run(sql, window.params):
        result[(bucket, window.desk_key if window.group_sets else key)] = {
            "problems_opened": int(opened),
            "problems_resolved": int(resolved),
            "incidents_per_problem": kpis.ratio(int(incidents), int(kept), digits=2),
        }
    return result


def compute_known_errors(window: Window, names: Sequence[str]) -> Computed:
    """Problems in the known-error state now (only a window ending now)."""
    if not window.ends_now(timezone.now()):
        return {}
    if window.group_sets and not window.includes_desk:
        return {}
    group = "NULL" if window.group_sets else PROBLEM_COLUMNS.get(window.group_by or "", "NULL")
    conditions = "".join(
        f" AND {PROBLEM_COLUMNS[name]} = %(filter_{index})s"
        for index, (name, _key) in enumerate(window.filters)
    )
    sql = (
        f"SELECT {group} AS g, count(*) FROM problems_problem p"  # noqa: S608
        f" WHERE p.status = 'known_error'{conditions} GROUP BY 1"
    )
    bucket = window.bucket_starts()[-1] if window.interval else None
    result: Computed = {(bucket, window.desk_key): {"known_errors": 0}} if window.includes_desk else {}
    for key, count in run(sql, window.params):
        result[(bucket, window.desk_key if window.group_sets else key)] = {"known_errors": count}
    return result


def register() -> None:
    for kpi in (
        KPI(
            "incidents_linked",
            _("Incidents linked to problems"),
            Unit.COUNT,
            "Incidents whose link to a problem was made in the range (linked_at).",
            compute_links,
        ),
        KPI(
            "recurrences",
            _("Recurrences"),
            Unit.COUNT,
            "Incidents created in the range and linked to a problem opened before them.",
            compute_links,
            better="down",
        ),
        KPI(
            "known_errors",
            _("Known errors"),
            Unit.COUNT,
            "Problems in the known-error state now (a documented root cause or workaround). Grouped "
            "by the problem's own team or category.",
            compute_known_errors,
            groupings=("team", "category"),
            kind=Kind.NOW,
        ),
        KPI(
            "problems_opened",
            _("Problems opened"),
            Unit.COUNT,
            "Problems created in the range (created_at), by an agent or by recurrence detection. Grouped "
            "by the problem's own team or category.",
            compute_problem_flow,
            groupings=("team", "category"),
        ),
        KPI(
            "problems_resolved",
            _("Problems resolved"),
            Unit.COUNT,
            "Problems resolved in the range (resolved_at) and still resolved or closed; a problem merged "
            "into another is not counted. Grouped by the problem's own team or category.",
            compute_problem_flow,
            groupings=("team", "category"),
            better="up",
        ),
        KPI(
            "incidents_per_problem",
            _("Incidents per problem"),
            Unit.TICKETS,
            "Incidents linked now to the problems created in the range, per problem (problems merged into "
            "another are left out: their incidents moved). How much each cause costs the desk.",
            compute_problem_flow,
            groupings=("team", "category"),
        ),
    ):
        kpis.register(KPI(**{**kpi.__dict__, "app": "problems"}))
