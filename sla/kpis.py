"""The SLA app's KPIs (see ``itsm.kpis``): first response, met rates, breaches, at risk now,
escalations, and the time to resolve in the business hours of each ticket's SLA calendar.

Business time is counted in PostgreSQL by ``sla_business_seconds(calendar, start, end)`` (created
by migration ``0003``): the working periods of the calendar's weekdays, in its time zone,
holidays left out; a 24×7 calendar without holidays (or no calendar) is plain wall-clock time.
It is the same arithmetic as ``sla.business_time.between`` (a test holds them together).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm import kpis
from itsm.kpis import KPI, Computed, Kind, Unit, Window
from tickets.kpis import compute_created, run, scope, stats_sql

# When a clock's fate was sealed: its breach, or else the moment it stopped in time.
OUTCOME_AT = "coalesce(c.breached_at, c.stopped_at)"


def compute_outcomes(window: Window, names: Sequence[str]) -> Computed:
    """Met rates and breaches: clocks whose outcome (breach, or stop in time) falls in the window."""
    joins, group, conditions = scope(window)
    # The ticket is joined only to group or filter by it: every clock belongs to a ticket (the
    # foreign key), so the whole desk's counts are the clocks' alone (one probe per clock saved).
    # Joined as a lateral lookup (OFFSET 0 keeps it one): an index probe per clock of the range,
    # where a hash join would read the whole ticket table to group a month's clocks.
    tickets = (
        ""
        if group == "NULL" and not conditions
        else " CROSS JOIN LATERAL (SELECT * FROM tickets_ticket x WHERE x.id = c.ticket_id OFFSET 0) AS t"
    )
    sql = (
        f"SELECT {window.bucket(OUTCOME_AT)} AS b, {group} AS g,"  # noqa: S608
        " count(*) FILTER (WHERE c.metric = 'response'),"
        " count(*) FILTER (WHERE c.metric = 'response' AND c.breached_at IS NULL),"
        " count(*) FILTER (WHERE c.metric = 'resolution'),"
        " count(*) FILTER (WHERE c.metric = 'resolution' AND c.breached_at IS NULL),"
        " count(*) FILTER (WHERE c.breached_at IS NOT NULL)"
        f" FROM sla_ticketsla c{tickets} {joins}"
        " WHERE ((c.breached_at >= %(start)s AND c.breached_at < %(end)s)"
        "  OR (c.breached_at IS NULL AND c.stopped_at >= %(start)s AND c.stopped_at < %(end)s))"
        f"{conditions} GROUP BY 1, 2"
    )
    result: Computed = {}
    for bucket, key, responses, responses_met, resolutions, resolutions_met, breaches in run(
        sql, window.params
    ):
        result[(bucket, key)] = {
            "sla_response_met_rate": kpis.ratio(responses_met, responses),
            "sla_resolution_met_rate": kpis.ratio(resolutions_met, resolutions),
            "breaches": breaches,
        }
    return result


def compute_escalations(window: Window, names: Sequence[str]) -> Computed:
    joins, group, conditions = scope(window)
    sql = (
        f"SELECT {window.bucket('e.created_at')} AS b, {group} AS g, count(*)"  # noqa: S608
        f" FROM sla_slaevent e JOIN tickets_ticket t ON t.id = e.ticket_id {joins}"
        " WHERE e.kind = 'escalation' AND e.created_at >= %(start)s AND e.created_at < %(end)s"
        f"{conditions} GROUP BY 1, 2"
    )
    return {(bucket, key): {"escalations": count} for bucket, key, count in run(sql, window.params)}


def compute_at_risk(window: Window, names: Sequence[str]) -> Computed:
    """at_risk_now and breached_now: running clocks as they stand (only a window ending now)."""
    now = timezone.now()
    if not window.ends_now(now):
        return {}
    joins, group, conditions = scope(window)
    sql = (
        f"SELECT {window.bucket('%(now)s')} AS b, {group} AS g,"  # noqa: S608
        " count(*) FILTER (WHERE c.state = 'at_risk' OR (c.state = 'on_track' AND c.warn_at <= %(now)s"
        "  AND c.due_at > %(now)s)),"
        " count(*) FILTER (WHERE c.state = 'breached' OR c.due_at <= %(now)s)"
        f" FROM sla_ticketsla c JOIN tickets_ticket t ON t.id = c.ticket_id {joins}"
        " WHERE c.state IN ('on_track', 'at_risk', 'breached') AND c.stopped_at IS NULL"
        f" AND c.paused_since IS NULL AND c.warn_at <= %(now)s{conditions} GROUP BY 1, 2"
    )
    result: Computed = {}
    if window.includes_desk:  # measured now: nothing running is a zero, not a gap
        bucket = window.bucket_starts()[-1] if window.interval else None
        result[(bucket, window.desk_key)] = {"at_risk_now": 0, "breached_now": 0}
    for bucket, key, at_risk, breached in run(sql, {**window.params, "now": now}):
        result[(bucket, key)] = {"at_risk_now": at_risk, "breached_now": breached}
    return result


def compute_business_mttr(window: Window, names: Sequence[str]) -> Computed:
    """mttr_business_hours: tickets resolved in the window, in their resolution clock's calendar."""
    joins, group, conditions = scope(window)
    # Around-the-clock calendars without holidays (the default) are plain subtraction: the
    # function is called only for tickets under real business hours.
    business = (
        "CASE WHEN cal.continuous IS NOT FALSE THEN extract(epoch FROM t.resolved_at - t.created_at)"
        " ELSE sla_business_seconds(c.calendar_id, t.created_at, t.resolved_at) END / 3600.0"
    )
    sql = (
        f"SELECT {window.bucket('t.resolved_at')} AS b, {group} AS g, {stats_sql(business)}"  # noqa: S608
        f" FROM tickets_ticket t {joins}"
        " LEFT JOIN sla_ticketsla c ON c.ticket_id = t.id AND c.metric = 'resolution'"
        " LEFT JOIN (SELECT k.id, k.around_the_clock AND NOT EXISTS (SELECT 1 FROM sla_holiday h"
        "  WHERE h.calendar_id = k.id) AS continuous FROM sla_calendar k) cal ON cal.id = c.calendar_id"
        " WHERE t.resolved_at >= %(start)s AND t.resolved_at < %(end)s"
        f" AND t.status IN ('resolved', 'closed'){conditions} GROUP BY 1, 2"
    )
    return {
        (bucket, key): {"mttr_business_hours": kpis.distribution(mean, median, p90)}
        for bucket, key, mean, median, p90 in run(sql, window.params)
    }


def register() -> None:
    for kpi in (
        KPI(
            "frt_minutes",
            _("First response time"),
            Unit.MINUTES,
            "Tickets created in the range with a first public agent reply: wall-clock minutes from "
            "created_at to first_response_at. Mean, median, p90.",
            # Ticket columns only: computed in the same scan as the tickets created.
            compute_created,
            distribution=True,
            better="down",
            tile_order=50,
        ),
        KPI(
            "sla_response_met_rate",
            _("Response SLA met"),
            Unit.RATE,
            "First-response clocks whose outcome falls in the range (the breach, or the stop when in "
            "time): the share met. Pending time pauses the clock and is not counted against it.",
            compute_outcomes,
            better="up",
        ),
        KPI(
            "sla_resolution_met_rate",
            _("Resolution SLA met"),
            Unit.RATE,
            "Resolution clocks whose outcome falls in the range (the breach, or the stop when in time): "
            "the share met. Pending time pauses the clock.",
            compute_outcomes,
            better="up",
            tile_order=60,
        ),
        KPI(
            "breaches",
            _("SLA breaches"),
            Unit.COUNT,
            "Clocks (first response and resolution) whose breached_at falls in the range.",
            compute_outcomes,
            better="down",
            tile_order=65,
        ),
        KPI(
            "escalations",
            _("Escalations"),
            Unit.COUNT,
            "Escalation steps taken in the range (SLA events of kind escalation).",
            compute_escalations,
            better="down",
        ),
        KPI(
            "at_risk_now",
            _("At risk now"),
            Unit.COUNT,
            "Running clocks past their warning time and not yet due, at this moment.",
            compute_at_risk,
            kind=Kind.NOW,
            better="down",
        ),
        KPI(
            "breached_now",
            _("Breached and running now"),
            Unit.COUNT,
            "Running clocks past their due time, at this moment.",
            compute_at_risk,
            kind=Kind.NOW,
            better="down",
        ),
        KPI(
            "mttr_business_hours",
            _("Time to resolve (business hours)"),
            Unit.HOURS,
            "Tickets resolved in the range: working hours from created_at to resolved_at in the "
            "calendar of the ticket's resolution clock (24×7 without one). Mean, median, p90.",
            compute_business_mttr,
            distribution=True,
            better="down",
        ),
    ):
        kpis.register(KPI(**{**kpi.__dict__, "app": "sla"}))
