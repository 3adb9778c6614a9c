"""The triage KPIs (see ``itsm.kpis``): coverage, acceptance of suggestions, and how often an
automatic change survived to the resolution."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from itsm import kpis
from itsm.kpis import KPI, Computed, Unit, Window
from tickets.kpis import run, scope


def compute_triage(window: Window, names: Sequence[str]) -> Computed:
    """Tickets created in the window and their triage results (one row per field)."""
    joins, group, conditions = scope(window)
    # Each ticket's results by an index probe (triage_result_kpi_idx, index-only): bounded by the
    # window's tickets, where a join would read every triage result ever made.
    sql = (
        f"SELECT {window.bucket('t.created_at')} AS b, {group} AS g, count(*),"  # noqa: S608
        " count(*) FILTER (WHERE r.results > 0), sum(r.accepted), sum(r.rejected), sum(r.auto_evaluated),"
        " sum(r.auto_kept)"
        " FROM tickets_ticket t CROSS JOIN LATERAL (SELECT count(*) AS results,"
        "  count(*) FILTER (WHERE x.status = 'accepted') AS accepted,"
        "  count(*) FILTER (WHERE x.status = 'rejected') AS rejected,"
        "  count(*) FILTER (WHERE x.applied AND x.correct IS NOT NULL) AS auto_evaluated,"
        "  count(*) FILTER (WHERE x.applied AND x.correct) AS auto_kept"
        "  FROM triage_triageresult x WHERE x.ticket_id = t.id) AS r"
        f" {joins}"
        f" WHERE t.created_at >= %(start)s AND t.created_at < %(end)s{conditions} GROUP BY 1, 2"
    )
    result: Computed = {}
    for bucket, key, tickets, triaged, accepted, rejected, evaluated, kept in run(sql, window.params):
        # SUM() of counts comes back as numeric: integers here, so the values stay plain floats.
        accepted, rejected, evaluated, kept = (
            int(value or 0) for value in (accepted, rejected, evaluated, kept)
        )
        result[(bucket, key)] = {
            "ai_triage_coverage": kpis.ratio(triaged, tickets),
            "ai_triage_acceptance_rate": kpis.ratio(accepted, accepted + rejected),
            "ai_auto_no_correction_rate": kpis.ratio(kept, evaluated),
        }
    return result


def register() -> None:
    for kpi in (
        KPI(
            "ai_triage_coverage",
            _("Triage coverage"),
            Unit.RATE,
            "Of the tickets created in the range, the share with at least one triage prediction.",
            compute_triage,
            better="up",
        ),
        KPI(
            "ai_triage_acceptance_rate",
            _("Triage suggestions accepted"),
            Unit.RATE,
            "Triage suggestions of tickets created in the range that an agent decided on: the share "
            "accepted (kept) rather than rejected.",
            compute_triage,
            better="up",
            tile_order=80,
        ),
        KPI(
            "ai_auto_no_correction_rate",
            _("Auto-triage kept"),
            Unit.RATE,
            "Predictions applied automatically (auto mode) to tickets created in the range and since "
            "compared with the resolved ticket: the share still the ticket's value (no correction).",
            compute_triage,
            better="up",
        ),
    ):
        kpis.register(KPI(**{**kpi.__dict__, "app": "ai"}))
