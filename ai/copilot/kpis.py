"""The copilot's KPI (see ``itsm.kpis``): how often agents use the quick fixes they are shown."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from itsm import kpis
from itsm.kpis import KPI, Computed, Unit, Window
from tickets.kpis import run


def compute_quick_fix(window: Window, names: Sequence[str]) -> Computed:
    if not window.includes_desk:
        return {}
    sql = (
        f"SELECT {window.bucket('d.created_at')}, count(*) FILTER (WHERE d.outcome <> 'dismissed'), count(*)"  # noqa: S608
        " FROM copilot_quickfixdecision d WHERE d.created_at >= %(start)s AND d.created_at < %(end)s GROUP BY 1"
    )
    return {
        (bucket, window.desk_key): {"quick_fix_acceptance_rate": kpis.ratio(int(used), int(total))}
        for bucket, used, total in run(sql, window.params)
    }


def register() -> None:
    kpis.register(
        KPI(
            "quick_fix_acceptance_rate",
            _("Quick fixes used"),
            Unit.RATE,
            "Quick fixes inserted into a reply or whose known error was linked, over every quick fix "
            "decided (used or dismissed) in the range, by the decision's time. Not groupable.",
            compute_quick_fix,
            groupings=(),
            better="up",
            app="ai",
        )
    )
