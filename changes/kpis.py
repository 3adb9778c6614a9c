"""The changes app's KPIs (see ``itsm.kpis``): changes closed, their success rate, the share of
emergency changes, the changes suspected of causing incidents. Counted over the changes closed
in the range (``closed_at``)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from changes.models import CAUSE_GRACE
from itsm import kpis
from itsm.kpis import KPI, Computed, Unit, Window
from tickets.kpis import run

# The change page's rule (``ChangeRequest.incidents_during``) in SQL: an incident on one of the
# change's items, created from the start of its window until CAUSE_GRACE after its end.
CAUSED_INCIDENT = (
    "c.planned_start IS NOT NULL AND c.planned_end IS NOT NULL AND EXISTS ("  # noqa: S608 - an int constant
    "SELECT 1 FROM changes_changerequest_affected_items a"
    " JOIN cmdb_ticketitem ti ON ti.item_id = a.configurationitem_id"
    " JOIN tickets_ticket t ON t.id = ti.ticket_id"
    " WHERE a.changerequest_id = c.id AND t.type = 'incident' AND t.created_at >= c.planned_start"
    f" AND t.created_at < c.planned_end + interval '{int(CAUSE_GRACE.total_seconds())} seconds')"
)

# Changes carry their own team.
CHANGE_COLUMNS = {"team": "c.team_id"}


def compute_closed(window: Window, names: Sequence[str]) -> Computed:
    if window.group_sets and not window.includes_desk:
        return {}
    group = "NULL" if window.group_sets else CHANGE_COLUMNS.get(window.group_by or "", "NULL")
    conditions = "".join(
        f" AND {CHANGE_COLUMNS.get(name, 'NULL')} = %(filter_{index})s"
        for index, (name, _key) in enumerate(window.filters)
    )
    sql = (
        f"SELECT {window.bucket('c.closed_at')} AS b, {group} AS g, count(*),"  # noqa: S608
        " count(*) FILTER (WHERE c.outcome = 'successful'), count(*) FILTER (WHERE c.type = 'emergency'),"
        f" count(*) FILTER (WHERE {CAUSED_INCIDENT})"
        " FROM changes_changerequest c"
        f" WHERE c.status = 'closed' AND c.closed_at >= %(start)s AND c.closed_at < %(end)s{conditions}"
        " GROUP BY 1, 2"
    )
    result: Computed = {}
    for bucket, key, closed, successful, emergency, causing in run(sql, window.params):
        result[(bucket, window.desk_key if window.group_sets else key)] = {
            "changes_closed": closed,
            "changes_causing_incidents": causing,
            "change_success_rate": successful / closed if closed else None,
            "emergency_change_share": emergency / closed if closed else None,
        }
    return result


def register() -> None:
    for kpi in (
        KPI(
            "changes_closed",
            _("Changes closed"),
            Unit.COUNT,
            "Change requests closed in the range (closed_at), whatever their outcome. Grouped by the "
            "change's own team.",
            compute_closed,
            groupings=("team",),
        ),
        KPI(
            "change_success_rate",
            _("Change success rate"),
            Unit.RATE,
            "Share of the changes closed in the range whose outcome is successful (not failed or "
            "backed out).",
            compute_closed,
            groupings=("team",),
            better="up",
        ),
        KPI(
            "emergency_change_share",
            _("Emergency change share"),
            Unit.RATE,
            "Share of the changes closed in the range that were emergency changes.",
            compute_closed,
            groupings=("team",),
            better="down",
        ),
        KPI(
            "changes_causing_incidents",
            _("Changes causing incidents"),
            Unit.COUNT,
            "Changes closed in the range with at least one incident on one of their configuration items "
            "created from the start of their planned window until four hours after its end (the change "
            "page's 'perhaps caused by this change' rule: suspected, not confirmed by an agent).",
            compute_closed,
            groupings=("team",),
            better="down",
        ),
    ):
        kpis.register(KPI(**{**kpi.__dict__, "app": "changes"}))
