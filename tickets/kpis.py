"""The tickets app's KPIs and the groupings every ticket KPI shares (see ``itsm.kpis``).

Each function below answers all of its KPIs in one query over ``tickets_ticket`` (alias ``t``),
grouped by the window's interval and grouping. ``scope(window)`` gives the joins, the group
column and the filters of a window, so the KPIs of other apps (sla, ai, problems) group and
filter tickets the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm import kpis
from itsm.kpis import KPI, Computed, Grouping, Kind, Unit, Window
from itsm.models import CustomerTier, Team, User
from tickets.models import Category, Channel, Priority, TicketType
from tickets.models.ticket import OPEN_STATUSES

AGE_KEYS = ("lt_1d", "1_3d", "3_7d", "gt_7d")
OPEN = "(" + ", ".join(f"'{status}'" for status in OPEN_STATUSES) + ")"
ORGANISATION_JOIN = "LEFT JOIN itsm_organisation org ON org.id = t.organisation_id"


def scope(window: Window) -> tuple[str, str, str]:
    """``(joins, group column, filter conditions)`` of the window over the ticket alias ``t``."""
    joins: list[str] = []
    group = "NULL"
    if window.group_by is not None:
        item = kpis.grouping(window.group_by)
        group = item.column
        if item.joins:
            joins.append(item.joins)
    conditions = []
    for index, (name, _key) in enumerate(window.filters):
        item = kpis.grouping(name)
        if item.joins and item.joins not in joins:
            joins.append(item.joins)
        conditions.append(f" AND {item.column} = %(filter_{index})s")
    if window.group_sets:
        # Each ticket once per grouping (last in FROM, so lateral lookups before it run once per ticket).
        rows = []
        for name in window.group_sets:
            if name is None:
                rows.append("(NULL::text, NULL::text)")
                continue
            item = kpis.grouping(name)
            if item.joins and item.joins not in joins:
                joins.append(item.joins)
            rows.append(f"('{name}', ({item.column})::text)")
        joins.append(f"CROSS JOIN LATERAL (VALUES {', '.join(rows)}) AS group_set(grouping, key)")
        # Compared byte by byte ("C"): the key only groups rows, and a language's collation
        # makes sorting every ticket once per grouping several times slower.
        group = (
            f"(coalesce(group_set.grouping, '') || chr({ord(kpis.GROUP_SEPARATOR)})"
            f' || coalesce(group_set.key, chr({ord(kpis.NO_KEY)}))) COLLATE "C"'
        )
    return " ".join(joins), group, "".join(conditions)


def run(sql: str, params: dict[str, Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Durations in double precision (``date_part``), as ``percentile_cont`` reads them anyway:
# ``extract`` would give numeric, several times slower to average over tens of thousands of rows.
def minutes(expression: str) -> str:
    return f"date_part('epoch', {expression}) / 60.0"


def hours(expression: str) -> str:
    return f"date_part('epoch', {expression}) / 3600.0"


def stats_sql(expression: str) -> str:
    """Mean, median and p90 of ``expression`` (NULLs are left out by the aggregates)."""
    return (
        f"avg({expression}), percentile_cont(0.5) WITHIN GROUP (ORDER BY {expression}), "
        f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {expression})"
    )


# --- created in the window -----------------------------------------------------------------------------
def compute_created(window: Window, names: Sequence[str]) -> Computed:
    """tickets_created, mtta_minutes and frt_minutes (the SLA app's KPI, but ticket columns):
    tickets created in the window, in one scan."""
    joins, group, conditions = scope(window)
    want_mtta = "mtta_minutes" in names
    assigned = ""
    mtta = "NULL, NULL, NULL"
    if want_mtta:
        # The first audit row with an assignee: its time, unless the ticket was created assigned.
        assigned = (
            " LEFT JOIN LATERAL (SELECT a.pgh_created_at AS at, a.pgh_label AS label"
            " FROM tickets_ticketaudit a WHERE a.pgh_obj_id = t.id AND a.assignee_id IS NOT NULL"
            " ORDER BY a.pgh_id LIMIT 1) first_assignment ON true"
        )
        delay = (
            "CASE WHEN first_assignment.label = 'created' THEN 0.0 ELSE greatest("
            + minutes("first_assignment.at - t.created_at")
            + ", 0.0) END"
        )
        mtta = stats_sql(delay)
    frt = "NULL, NULL, NULL"
    if "frt_minutes" in names:
        frt = stats_sql(minutes("t.first_response_at - t.created_at"))
    sql = (
        f"SELECT {window.bucket('t.created_at')} AS b, {group} AS g, count(*), {mtta}, {frt}"  # noqa: S608
        f" FROM tickets_ticket t {joins}{assigned}"
        f" WHERE t.created_at >= %(start)s AND t.created_at < %(end)s{conditions}"
        " GROUP BY 1, 2"
    )
    result: Computed = {}
    for bucket, key, created, mean, median, p90, frt_mean, frt_median, frt_p90 in run(sql, window.params):
        result[(bucket, key)] = {
            "tickets_created": created,
            "mtta_minutes": kpis.distribution(mean, median, p90),
            "frt_minutes": kpis.distribution(frt_mean, frt_median, frt_p90),
        }
    return result


# --- resolved in the window ----------------------------------------------------------------------------
# Public replies by agents and admins (ids passed as %(agents)s: the user table is not joined
# per ticket); comment_public_author_idx answers it from the index alone.
# Only whether there were more than one matters: the count stops at two, and a reopened ticket
# (never first-contact) is not looked up at all.
AGENT_REPLIES = (
    "(SELECT count(*) FROM (SELECT 1 FROM tickets_comment c WHERE t.reopen_count = 0 AND c.ticket_id = t.id"
    " AND NOT c.internal AND c.author_id = ANY(%(agents)s) LIMIT 2) AS two)"
)


def agent_ids() -> list[int]:
    return list(
        User.objects.filter(Q(role__in=["agent", "admin"]) | Q(is_superuser=True)).values_list(
            "pk", flat=True
        )
    )


def compute_resolved(window: Window, names: Sequence[str]) -> Computed:
    """tickets_resolved, reopen_rate, mttr_hours, fcr_rate, tickets_per_agent: tickets whose
    (latest) resolution falls in the window."""
    joins, group, conditions = scope(window)
    fcr, replies = "NULL", ""
    if "fcr_rate" in names:
        fcr = "count(*) FILTER (WHERE t.reopen_count = 0 AND replies.n <= 1)"
        replies = f" CROSS JOIN LATERAL (SELECT {AGENT_REPLIES} AS n) AS replies"
    # Distinct assignees sort every resolved ticket: only when tickets per agent is asked for.
    assignees = "count(DISTINCT t.assignee_id)" if "tickets_per_agent" in names else "NULL"
    sql = (
        f"SELECT {window.bucket('t.resolved_at')} AS b, {group} AS g, count(*),"  # noqa: S608
        " count(*) FILTER (WHERE t.reopen_count > 0),"
        f" {stats_sql(hours('t.resolved_at - t.created_at'))}, {fcr}, {assignees}"
        f" FROM tickets_ticket t{replies} {joins}"
        " WHERE t.resolved_at >= %(start)s AND t.resolved_at < %(end)s"
        f" AND t.status IN ('resolved', 'closed'){conditions}"
        " GROUP BY 1, 2"
    )
    params = {**window.params, "agents": agent_ids() if "fcr_rate" in names else []}
    result: Computed = {}
    for bucket, key, resolved, reopened, mean, median, p90, first_contact, agents in run(sql, params):
        result[(bucket, key)] = {
            "tickets_resolved": resolved,
            # Shares as counts over the count (integers, not a numeric average): the same float.
            "reopen_rate": kpis.ratio(reopened, resolved),
            "mttr_hours": kpis.distribution(mean, median, p90),
            "fcr_rate": None if first_contact is None else kpis.ratio(first_contact, resolved),
            "tickets_per_agent": kpis.ratio(resolved, agents, 2),
        }
    return result


def compute_closed(window: Window, names: Sequence[str]) -> Computed:
    joins, group, conditions = scope(window)
    sql = (
        f"SELECT {window.bucket('t.closed_at')} AS b, {group} AS g, count(*)"  # noqa: S608
        f" FROM tickets_ticket t {joins}"
        f" WHERE t.closed_at >= %(start)s AND t.closed_at < %(end)s{conditions} GROUP BY 1, 2"
    )
    return {(bucket, key): {"tickets_closed": count} for bucket, key, count in run(sql, window.params)}


# --- the backlog ---------------------------------------------------------------------------------------
# When a ticket stopped being open: its resolution or closure, or for a cancelled ticket the
# audit row that cancelled it. A reopened ticket that is open again counts as open since it
# was created (its resolved spell is not subtracted).
DONE_AT = (
    f"CASE WHEN t.status IN {OPEN} THEN NULL"  # noqa: S608 - constants
    " WHEN t.status = 'cancelled' THEN coalesce((SELECT min(a.pgh_created_at) FROM tickets_ticketaudit a"
    " WHERE a.pgh_obj_id = t.id AND a.status = 'cancelled'), t.updated_at)"
    " ELSE coalesce(t.resolved_at, t.closed_at, t.updated_at) END"
)


def compute_backlog(window: Window, names: Sequence[str]) -> Computed:
    """backlog_open at the end of the window (each bucket's end with an interval); backlog_age now."""
    joins, group, conditions = scope(window)
    result: Computed = {}
    now = timezone.now()
    if window.interval is None and window.ends_now(now):
        if window.includes_desk:  # measured now: an empty desk is a zero, not a gap
            result[(None, window.desk_key)] = {"backlog_open": 0, "backlog_age": dict.fromkeys(AGE_KEYS, 0)}
        # The level now: the open tickets themselves (the status index), with their ages.
        sql = (
            f"SELECT {group} AS g, count(*),"  # noqa: S608
            " count(*) FILTER (WHERE t.created_at > %(now)s - interval '1 day'),"
            " count(*) FILTER (WHERE t.created_at <= %(now)s - interval '1 day'"
            "  AND t.created_at > %(now)s - interval '3 days'),"
            " count(*) FILTER (WHERE t.created_at <= %(now)s - interval '3 days'"
            "  AND t.created_at > %(now)s - interval '7 days'),"
            " count(*) FILTER (WHERE t.created_at <= %(now)s - interval '7 days')"
            f" FROM tickets_ticket t {joins}"
            f" WHERE t.status IN {OPEN} AND NOT t.archived{conditions} GROUP BY 1"
        )
        for key, count, day, three, week, older in run(sql, {**window.params, "now": now}):
            result[(None, key)] = {
                "backlog_open": count,
                "backlog_age": {"lt_1d": day, "1_3d": three, "3_7d": week, "gt_7d": older},
            }
        return result
    # A level at the end of each bucket: +1 when a ticket opens, -1 when it is done, summed.
    sql = (
        f"WITH spans AS (SELECT {group} AS g, t.created_at AS opened, {DONE_AT} AS done"  # noqa: S608
        f"  FROM tickets_ticket t {joins}"
        f"  WHERE t.created_at < %(end)s AND NOT t.archived{conditions}"
        f"  AND (t.status IN {OPEN} OR t.status = 'cancelled' OR t.resolved_at >= %(start)s"
        "   OR t.closed_at >= %(start)s OR (t.resolved_at IS NULL AND t.closed_at IS NULL))),"
        " live AS (SELECT * FROM spans WHERE done IS NULL OR done >= %(start)s)"
        " SELECT b, g, sum(delta) FROM ("
        f"  SELECT {window.bucket('greatest(opened, %(start)s)')} AS b, g, 1 AS delta FROM live"
        f"  UNION ALL SELECT {window.bucket('done')}, g, -1 FROM live WHERE done < %(end)s"
        " ) AS events GROUP BY 1, 2"
    )
    deltas: dict[Any, dict[Any, int]] = {}
    for bucket, key, delta in run(sql, window.params):
        deltas.setdefault(key, {})[bucket] = int(delta)
    buckets = window.bucket_starts() or [None]
    for key, by_bucket in deltas.items():
        level = 0
        for bucket in buckets:
            level += by_bucket.get(bucket, 0)
            result[(bucket, key)] = {"backlog_open": level}
    return result


# --- groupings -----------------------------------------------------------------------------------------
def _team_labels(keys: Iterable[Any]) -> dict[Any, str]:
    return dict(Team.objects.filter(pk__in=list(keys)).values_list("pk", "name"))


def _category_labels(keys: Iterable[Any]) -> dict[Any, str]:
    return dict(Category.objects.filter(pk__in=list(keys)).values_list("pk", "name"))


def _assignee_labels(keys: Iterable[Any]) -> dict[Any, str]:
    return dict(User.objects.filter(pk__in=list(keys)).values_list("pk", "email"))


def _team_by_name(value: str) -> Any:
    if value.isdigit():
        return int(value) if Team.objects.filter(pk=int(value)).exists() else None
    return Team.objects.filter(name__iexact=value).values_list("pk", flat=True).first()


def _category_by_name(value: str) -> Any:
    if value.isdigit():
        return int(value) if Category.objects.filter(pk=int(value)).exists() else None
    return Category.objects.filter(name__iexact=value).values_list("pk", flat=True).first()


def _assignee_by_email(value: str) -> Any:
    if value.isdigit():
        return int(value) if User.objects.filter(pk=int(value)).exists() else None
    return User.objects.filter(email__iexact=value).values_list("pk", flat=True).first()


def _choice_labels(choices: Any) -> Any:
    def labels(keys: Iterable[Any]) -> dict[Any, str]:
        names = dict(choices)
        return {key: str(names.get(key, key)) for key in keys}

    return labels


def _choice_resolver(choices: Any) -> Any:
    def resolve(value: str) -> Any:
        return value if value in dict(choices) else None

    return resolve


def _team_choices() -> list[tuple[Any, str]]:
    return list(Team.objects.order_by("name").values_list("pk", "name"))


# --- time logged and satisfaction ---------------------------------------------------------------------
def compute_time(window: Window, names: Sequence[str]) -> Computed:
    """time_logged_hours and time_per_ticket_minutes: work log entries whose worked_at falls in
    the range, grouped by their ticket; one query (per-ticket sums, then their statistics)."""
    joins, group, conditions = scope(window)
    sql = (
        "SELECT b, g, sum(total), " + stats_sql("total") + " FROM ("  # noqa: S608
        f" SELECT {window.bucket('w.worked_at')} AS b, {group} AS g, w.ticket_id, sum(w.minutes) AS total"
        f" FROM tickets_worklog w JOIN tickets_ticket t ON t.id = w.ticket_id {joins}"
        f" WHERE w.worked_at >= %(start)s AND w.worked_at < %(end)s{conditions}"
        " GROUP BY 1, 2, 3) per_ticket GROUP BY 1, 2"
    )
    result: Computed = {}
    for bucket, key, total, mean, median, p90 in run(sql, window.params):
        result[(bucket, key)] = {
            "time_logged_hours": kpis.rounded(float(total) / 60, 2),
            "time_per_ticket_minutes": kpis.distribution(mean, median, p90),
        }
    return result


def compute_csat(window: Window, names: Sequence[str]) -> Computed:
    """csat_average and csat_response_rate over the surveys sent in the range; one query."""
    joins, group, conditions = scope(window)
    sql = (
        f"SELECT {window.bucket('s.sent_at')} AS b, {group} AS g, count(*), count(s.score), avg(s.score)"  # noqa: S608
        f" FROM tickets_satisfactionsurvey s JOIN tickets_ticket t ON t.id = s.ticket_id {joins}"
        f" WHERE s.sent_at >= %(start)s AND s.sent_at < %(end)s{conditions}"
        " GROUP BY 1, 2"
    )
    result: Computed = {}
    for bucket, key, sent, answered, average in run(sql, window.params):
        result[(bucket, key)] = {
            "csat_average": kpis.rounded(average, 2) if average is not None else None,
            "csat_response_rate": kpis.ratio(answered, sent),
        }
    return result


def register() -> None:
    for name, label, column, joins, labels, resolve, choices in (
        ("priority", _("Priority"), "t.priority", "", _choice_labels(Priority.choices), _choice_resolver(Priority.choices), None),
        ("category", _("Category"), "t.category_id", "", _category_labels, _category_by_name, None),
        ("team", _("Team"), "t.team_id", "", _team_labels, _team_by_name, _team_choices),
        ("assignee", _("Assignee"), "t.assignee_id", "", _assignee_labels, _assignee_by_email, None),
        ("tier", _("Customer tier"), "org.tier", ORGANISATION_JOIN, _choice_labels(CustomerTier.choices), _choice_resolver(CustomerTier.choices), None),
        ("channel", _("Channel"), "t.channel", "", _choice_labels(Channel.choices), _choice_resolver(Channel.choices), None),
        ("type", _("Ticket type"), "t.type", "", _choice_labels(TicketType.choices), _choice_resolver(TicketType.choices), None),
    ):  # fmt: skip
        kpis.register_grouping(
            Grouping(
                name=name,
                label=label,
                column=column,
                joins=joins,
                labels=labels,
                resolve=resolve,
                choices=choices,
                integer=name in ("category", "team", "assignee"),
            )
        )

    for kpi in (
        KPI(
            "tickets_created",
            _("Tickets created"),
            Unit.COUNT,
            "Tickets whose created_at falls in the range (every type and channel).",
            compute_created,
            tile_order=10,
        ),
        KPI(
            "mtta_minutes",
            _("Time to first assignment"),
            Unit.MINUTES,
            "Tickets created in the range and assigned since: minutes from created_at to the first "
            "audit-trail row with an assignee (0 when created assigned). Mean, median, p90.",
            compute_created,
            distribution=True,
            better="down",
        ),
        KPI(
            "tickets_resolved",
            _("Tickets resolved"),
            Unit.COUNT,
            "Tickets now resolved or closed whose resolved_at (their latest resolution) falls in the range.",
            compute_resolved,
            better="up",
            tile_order=20,
        ),
        KPI(
            "reopen_rate",
            _("Reopen rate"),
            Unit.RATE,
            "Of the tickets resolved in the range, the share reopened at least once before that "
            "resolution (reopen_count > 0).",
            compute_resolved,
            better="down",
        ),
        KPI(
            "mttr_hours",
            _("Time to resolve"),
            Unit.HOURS,
            "Tickets resolved in the range: wall-clock hours from created_at to resolved_at, pending "
            "time included. Mean, median, p90.",
            compute_resolved,
            distribution=True,
            better="down",
            tile_order=40,
        ),
        KPI(
            "fcr_rate",
            _("First-contact resolution"),
            Unit.RATE,
            "Of the tickets resolved in the range, the share never reopened and resolved with at most "
            "one public reply written by an agent or admin.",
            compute_resolved,
            better="up",
            tile_order=70,
        ),
        KPI(
            "tickets_per_agent",
            _("Tickets resolved per agent"),
            Unit.TICKETS,
            "Tickets resolved in the range divided by the number of distinct assignees of those tickets.",
            compute_resolved,
            better="up",
        ),
        KPI(
            "tickets_closed",
            _("Tickets closed"),
            Unit.COUNT,
            "Tickets whose closed_at falls in the range.",
            compute_closed,
        ),
        KPI(
            "backlog_open",
            _("Open backlog"),
            Unit.COUNT,
            "Tickets in an open status (new, open, in progress, pending), archived ones left out, at "
            "the end of the range: counted now for a range ending now; for a past instant rebuilt from "
            "created_at, resolved_at/closed_at and, for cancelled tickets, the audit trail (a ticket "
            "reopened and still open counts as open since it was created).",
            compute_backlog,
            kind=Kind.STOCK,
            better="down",
            tile_order=30,
        ),
        KPI(
            "backlog_age",
            _("Open backlog by age"),
            Unit.COUNT,
            "Open tickets now by age since created_at: under 1 day, 1-3 days, 3-7 days, over 7 days.",
            compute_backlog,
            kind=Kind.NOW,
        ),
        KPI(
            "time_logged_hours",
            _("Time logged"),
            Unit.HOURS,
            "Hours in the work log entries whose worked_at falls in the range (grouped by their ticket).",
            compute_time,
        ),
        KPI(
            "time_per_ticket_minutes",
            _("Time per ticket"),
            Unit.MINUTES,
            "Tickets with work logged in the range: minutes logged on each in the range. Mean, median, p90.",
            compute_time,
            distribution=True,
        ),
        KPI(
            "csat_average",
            _("Satisfaction (CSAT)"),
            Unit.SCORE,
            "Surveys sent in the range (sent_at) and answered: the average score, 1 to 5.",
            compute_csat,
            better="up",
        ),
        KPI(
            "csat_response_rate",
            _("Survey response rate"),
            Unit.RATE,
            "Of the satisfaction surveys sent in the range (sent_at), the share answered.",
            compute_csat,
            better="up",
        ),
    ):
        kpis.register(KPI(**{**kpi.__dict__, "app": "tickets"}))


BACKLOG_AGE_BUCKETS = (
    ("lt_1d", _("< 1 day")),
    ("1_3d", _("1–3 days")),
    ("3_7d", _("3–7 days")),
    ("gt_7d", _("> 7 days")),
)
