"""Service analytics at scale: KPIs, the dashboard, snapshots and a /metrics scrape.

    .venv/bin/python bench/kpis.py                     # 1,000,000 tickets over two years
    .venv/bin/python bench/kpis.py --tickets 100000    # a quick run
    .venv/bin/python bench/kpis.py --reuse             # measure again without reloading

Loads a desk into a dedicated database (``itsm_kpi_bench`` on the embedded server, or
``BENCH_DATABASE_URL``) with set-based ``INSERT … SELECT generate_series`` (every trigger and
index of production stays on: the audit trail is written by its trigger): tickets over two years
with realistic lifecycles (most closed, a working backlog of recent ones, some reopened or
cancelled), both SLA clocks for 80 % of them (a tenth under an office-hours calendar), triage
results (category and team) for 30 %, and the agents' public replies of the last 120 days.

Then it times, each beside a naive computation of the same figures (rows loaded into Python):
``/api/kpis/`` for 30 days (whole desk and by team), the dashboard page and each of its panels
(loaded by HTMX after the page), one day's snapshot, a year of ``kpi_snapshot``, and a
``/metrics`` scrape. ``--only-requests`` skips the snapshots and the naive computations.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 5_000
DAYS = 730


def configure(database: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
    os.environ.setdefault("ITSM_ENV", "development")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    # One persistent connection, as a production web process keeps (CONN_MAX_AGE): the requests
    # are timed without a new connection each, and its backend's CPU time can be read.
    os.environ.setdefault("CONN_MAX_AGE", "600")
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["EMBEDDED_DATABASE_NAME"] = database
    import django

    django.setup()


def seed_people() -> dict[str, object]:
    from datetime import time as clock

    from itsm.models import Organisation, Role, Team, User
    from sla.defaults import ensure_defaults
    from sla.models import Calendar, WorkingPeriod
    from tickets.models import Category

    ensure_defaults()
    tiers = ["enterprise", "business", "standard", "free"]
    organisations = [
        Organisation.objects.get_or_create(name=f"Customer {i:02d}", defaults={"tier": tiers[i % 4]})[0]
        for i in range(20)
    ]
    teams = [Team.objects.get_or_create(name=f"Team {i}")[0] for i in range(8)]
    agents = []
    for t, team in enumerate(teams):
        for a in range(8):
            user, _ = User.objects.get_or_create(
                email=f"agent{t}{a}@kpi-bench.example",
                defaults={"role": Role.AGENT, "full_name": f"Agent {t}-{a}"},
            )
            team.members.add(user)
            agents.append(user.pk)
    requesters = []
    for i in range(200):
        user, _ = User.objects.get_or_create(
            email=f"user{i:03d}@kpi-bench.example",
            defaults={"role": Role.USER, "organisation": organisations[i % 20], "password": "!"},
        )
        requesters.append((user.pk, user.organisation_id))
    categories = [Category.objects.get_or_create(name=f"Category {i}")[0].pk for i in range(15)]
    office, created = Calendar.objects.get_or_create(
        name="Office hours", defaults={"time_zone": "Europe/Paris"}
    )
    if created:
        for weekday in range(5):
            WorkingPeriod.objects.create(calendar=office, weekday=weekday, start=clock(9), end=clock(17))
    return {
        "teams": [team.pk for team in teams],
        "agents": agents,
        "requesters": requesters,
        "categories": categories,
        "office": office.pk,
        "viewer": User.objects.get_or_create(
            email="viewer@kpi-bench.example", defaults={"role": Role.VIEWER}
        )[0],
        "agent": User.objects.get(pk=agents[0]),
    }


def arr(values: list[int]) -> str:
    return "ARRAY[" + ",".join(str(int(value)) for value in values) + "]::bigint[]"


def load(total: int, ids: dict) -> None:
    from django.db import connection

    teams, agents, categories = arr(ids["teams"]), arr(ids["agents"]), arr(ids["categories"])
    requesters = arr([pk for pk, _org in ids["requesters"]])
    orgs = arr([org for _pk, org in ids["requesters"]])
    began = time.perf_counter()
    for offset in range(0, total, BATCH):
        size = min(BATCH, total - offset)
        with connection.cursor() as cursor:
            # u1..u4: uniform in [0, 1) from the row index; times are exponential around a median
            # by priority; tickets opened in the last 14 days are often still open.
            cursor.execute(
                f"""
            WITH r AS (
                SELECT i, ((i * 2654435761) % 1000003) / 1000003.0 AS u1, ((i * 40503 + 7) % 999983) / 999983.0 AS u2,
                       ((i * 69069 + 1) % 1000033) / 1000033.0 AS u3, ((i * 134775813 + 3) % 999979) / 999979.0 AS u4,
                       now() - interval '{DAYS} days' + (i - 0.5) * interval '{DAYS} days' / {total} AS created
                FROM generate_series({offset + 1}::bigint, {offset + size}::bigint) AS i
            ), s AS (
                SELECT r.*, (ARRAY['critical','high','medium','medium','low','low'])[1 + (i % 6)] AS priority,
                       CASE WHEN created > now() - interval '14 days' AND u1 < 0.35
                                 THEN (ARRAY['new','open','in_progress','pending_customer'])[1 + (i % 4)]
                            WHEN created < now() - interval '14 days' AND u1 < 0.002 THEN 'open'
                            WHEN u2 < 0.03 THEN 'cancelled'
                            WHEN created > now() - interval '7 days' THEN 'resolved'
                            ELSE 'closed' END AS status,
                       1 + (i % 8) AS team_index,
                       1 + ((i * 7) % 200) AS requester_index
                FROM r
            ), t AS (
                SELECT s.*, created + make_interval(secs => -ln(1 - u3) * 1800 / ln(2)) AS responded,
                       created + make_interval(secs => -ln(1 - u4) * 3600 *
                           (CASE priority WHEN 'critical' THEN 2 WHEN 'high' THEN 6 WHEN 'medium' THEN 16 ELSE 30 END)
                           / ln(2) + 600) AS resolved
                FROM s
            )
            INSERT INTO tickets_ticket (number, type, title, description, status, impact, urgency, priority,
                priority_overridden, priority_reason, category_id, service, channel, requester_id, organisation_id,
                assignee_id, team_id, tags, linked_entity_type, linked_entity_id, sensitive, archived, resolution,
                metadata, external_key, created_at, updated_at, first_response_at, resolved_at, closed_at,
                reopen_count, version)
            SELECT 'INC-' || lpad(nextval('tickets_incident_number_seq')::text, 7, '0'), 'incident',
                   'Benchmark ticket ' || i, 'KPI benchmark', status, 'medium', 'medium', priority, true, 'bench',
                   ({categories})[1 + (i % 15)], '', (ARRAY['portal','email','web','phone','api'])[1 + (i % 5)],
                   ({requesters})[requester_index], ({orgs})[requester_index],
                   CASE WHEN status = 'new' OR u2 > 0.97 THEN NULL ELSE ({agents})[(team_index - 1) * 8 + 1 + (i % 8)] END,
                   ({teams})[team_index], ARRAY[]::varchar(50)[], '', '', false, false,
                   CASE WHEN status IN ('resolved', 'closed') THEN 'Fixed' ELSE '' END, '{{}}'::jsonb, '',
                   created, CASE WHEN status IN ('resolved', 'closed', 'cancelled') THEN resolved ELSE created END,
                   CASE WHEN status NOT IN ('new', 'cancelled') AND (responded < now()) THEN responded END,
                   CASE WHEN status IN ('resolved', 'closed') THEN resolved END,
                   CASE WHEN status = 'closed' THEN resolved + interval '3 days' END,
                   CASE WHEN u3 < 0.05 THEN 1 ELSE 0 END, 1
            FROM t
            """  # noqa: S608 - constants
            )
        done = offset + size
        if done % 50_000 == 0 or done == total:
            print(
                f"  loaded {done:>9,} tickets ({done / (time.perf_counter() - began):,.0f} rows/s)",
                flush=True,
            )
    with connection.cursor() as cursor:
        print("  SLA clocks for 80 % of the tickets …", flush=True)
        cursor.execute(
            """
            INSERT INTO sla_ticketsla (ticket_id, metric, policy_id, calendar_id, source, target_seconds,
                warning_threshold_percent, started_at, due_at, warn_at, paused_seconds, paused_business_seconds,
                stopped_at, breached_at, state, escalation_level, created_at, updated_at)
            SELECT t.id, m.metric, p.id, CASE WHEN t.id %% 10 = 0 THEN %(office)s ELSE p.calendar_id END, 'local',
                   g.target, 15, t.created_at, t.created_at + make_interval(secs => g.target),
                   t.created_at + make_interval(secs => g.target * 0.85), 0, 0, g.stopped,
                   CASE WHEN coalesce(g.stopped, now()) > t.created_at + make_interval(secs => g.target)
                        THEN t.created_at + make_interval(secs => g.target) END,
                   CASE WHEN coalesce(g.stopped, now()) > t.created_at + make_interval(secs => g.target) THEN 'breached'
                        WHEN g.stopped IS NOT NULL THEN 'met' ELSE 'on_track' END,
                   0, t.created_at, t.updated_at
            FROM tickets_ticket t
            CROSS JOIN (VALUES ('response'), ('resolution')) AS m(metric)
            JOIN sla_slapolicy p ON p.priority = t.priority AND p.name LIKE '%%(default)'
            CROSS JOIN LATERAL (SELECT
                (CASE WHEN m.metric = 'response' THEN p.response_minutes ELSE p.resolution_minutes END) * 60 AS target,
                CASE WHEN m.metric = 'response' THEN coalesce(t.first_response_at, t.resolved_at)
                     ELSE coalesce(t.resolved_at, CASE WHEN t.status = 'cancelled' THEN t.updated_at END) END AS stopped
            ) AS g
            WHERE t.id %% 5 <> 0
            """,
            {"office": ids["office"]},
        )
        print("  triage results for 30 % …", flush=True)
        cursor.execute(
            """
            INSERT INTO triage_triageresult (ticket_id, field, predicted_value, predicted_label, confidence, reasoning,
                evidence, method, model_version, latency_ms, mode, threshold, initial_value, status, applied,
                final_value, correct, created_at)
            SELECT t.id, f.field, '1', 'x', 0.5 + (t.id % 50) / 100.0, '', '{}'::jsonb, 'model', 'model-v1', 20,
                   'assist', 0.9, '',
                   (ARRAY['accepted','accepted','accepted','rejected','pending','matched'])[1 + (t.id % 6)],
                   false, '', CASE WHEN t.status IN ('resolved', 'closed') THEN t.id % 7 <> 0 END, t.created_at
            FROM tickets_ticket t CROSS JOIN (VALUES ('category'), ('team')) AS f(field)
            WHERE t.id % 10 < 3
            """
        )
        print("  agents' replies of the last 120 days …", flush=True)
        cursor.execute(
            """
            INSERT INTO tickets_comment (ticket_id, author_id, author_label, body, internal, source, external_id,
                created_at, updated_at)
            SELECT t.id, t.assignee_id, '', 'Looking into it.', false, 'web', '', t.first_response_at,
                   t.first_response_at
            FROM tickets_ticket t CROSS JOIN generate_series(1, 1 + (t.id % 3 = 0)::int) AS n
            WHERE t.created_at > now() - interval '120 days' AND t.first_response_at IS NOT NULL
              AND t.assignee_id IS NOT NULL
            """
        )
        print("  VACUUM ANALYZE …", flush=True)
        for table in (
            "tickets_ticket",
            "tickets_ticketaudit",
            "sla_ticketsla",
            "triage_triageresult",
            "tickets_comment",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat fields after the command name (field 3, the state, first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def database_cpu_seconds() -> float | None:
    """CPU time the database server has used, when it runs on this machine: its live processes
    (this connection's backend among them) and the exited ones the server has reaped (the
    parallel workers of a query), read from /proc. None when the server is elsewhere."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        server = int(_stat(backend)[1])  # the backend's parent: the postmaster
        fields = _stat(server)
        total = int(fields[13]) + int(fields[14])  # children reaped: cutime + cstime
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                child = _stat(int(entry.name))
            except OSError:
                continue  # exited meanwhile
            if int(child[1]) == server:
                total += int(child[11]) + int(child[12])  # utime + stime
    except OSError:
        return None
    return total / ticks


def timings(function, repeat: int) -> tuple[float, float, float | None]:
    """Median and p95 of the wall-clock time (ms), and the mean CPU time (ms) of this process and
    the database server per call: what the call costs whatever else the machine is doing (on an
    idle machine a call takes about its CPU time; the server's own background work, if any ran
    meanwhile, is counted too)."""
    for _ in range(min(2, repeat)):
        function()
    values = []
    backend_before, cpu_before = database_cpu_seconds(), time.process_time()
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        values.append((time.perf_counter() - began) * 1000)
    cpu = time.process_time() - cpu_before
    backend_after = database_cpu_seconds()
    values.sort()
    cpu_ms = None
    if backend_before is not None and backend_after is not None and backend_after >= backend_before:
        cpu_ms = (cpu + backend_after - backend_before) * 1000 / repeat
    return statistics.median(values), values[min(len(values) - 1, round(0.95 * len(values)) - 1)], cpu_ms


def once(function) -> float:
    began = time.perf_counter()
    function()
    return time.perf_counter() - began


# --- the naive way: rows into Python -------------------------------------------------------------------
def naive_kpis(start, end, group_by: str | None = None) -> dict:
    """The /api/kpis/ figures computed in Python from the rows (what the registry avoids)."""
    from collections import defaultdict

    from sla.models import TicketSLA
    from tickets.models import Ticket

    column = {"team": "team_id", None: "status"}[group_by]
    groups: dict = defaultdict(lambda: defaultdict(list))
    for key, created, responded in Ticket.objects.filter(
        created_at__gte=start, created_at__lt=end
    ).values_list(column, "created_at", "first_response_at"):
        row = groups[key if group_by else None]
        row["created"].append(1)
        if responded:
            row["frt"].append((responded - created).total_seconds() / 60)
    for key, created, resolved, reopened in Ticket.objects.filter(
        resolved_at__gte=start, resolved_at__lt=end, status__in=["resolved", "closed"]
    ).values_list(column, "created_at", "resolved_at", "reopen_count"):
        row = groups[key if group_by else None]
        row["mttr"].append((resolved - created).total_seconds() / 3600)
        row["reopened"].append(reopened > 0)
    for key, breached in TicketSLA.objects.filter(stopped_at__gte=start, stopped_at__lt=end).values_list(
        f"ticket__{column}", "breached_at"
    ):
        groups[key if group_by else None]["met"].append(breached is None)
    for key in Ticket.objects.open().values_list(column, flat=True):
        groups[key if group_by else None]["backlog"].append(1)
    result = {}
    for key, row in groups.items():
        mttr = sorted(row["mttr"])
        result[key] = {
            "created": len(row["created"]),
            "resolved": len(mttr),
            "mttr_median": statistics.median(mttr) if mttr else None,
            "frt_median": statistics.median(row["frt"]) if row["frt"] else None,
            "met": sum(row["met"]) / len(row["met"]) if row["met"] else None,
            "backlog": len(row["backlog"]),
        }
    return result


def naive_business_mttr(start, end) -> float | None:
    """Business hours per resolved ticket in Python, calendar by calendar (what the SQL function avoids)."""
    from sla import business_time
    from sla.models import Calendar, TicketSLA

    schedules = {calendar.pk: calendar.schedule() for calendar in Calendar.objects.with_hours()}
    rows = TicketSLA.objects.filter(
        metric="resolution", ticket__resolved_at__gte=start, ticket__resolved_at__lt=end
    ).values_list("calendar_id", "ticket__created_at", "ticket__resolved_at")
    hours = sorted(
        business_time.between(schedules[calendar], created, resolved) / 3600
        for calendar, created, resolved in rows
    )
    return statistics.median(hours) if hours else None


def naive_metrics() -> None:
    from collections import Counter

    from sla.models import TicketSLA
    from tickets.models import Ticket

    Counter(Ticket.objects.open().values_list("status", "priority"))
    Counter(TicketSLA.objects.filter(stopped_at__isnull=True).values_list("metric", "state"))
    min((t for t in Ticket.objects.open().unassigned().values_list("created_at", flat=True)), default=None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", default="itsm_kpi_bench")
    parser.add_argument("--reuse", action="store_true", help="measure the loaded database again")
    parser.add_argument("--skip-year", action="store_true", help="do not time a year of kpi_snapshot")
    parser.add_argument(
        "--only-requests",
        action="store_true",
        help="time the requests only (no snapshot timings, no naive computations; needs --reuse)",
    )
    args = parser.parse_args()
    configure(args.database)

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from itsm import kpis
    from itsm.analytics import snapshots
    from itsm.models import ApiToken, KPISnapshot
    from tickets.models import Ticket

    call_command("migrate", verbosity=0)
    ids = seed_people()
    if not args.reuse:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE tickets_ticket, itsm_kpisnapshot, itsm_notification, itsm_automationevent CASCADE"
            )
        print(f"Loading {args.tickets:,} tickets into {connection.settings_dict['NAME']} …", flush=True)
        print(f"Loaded in {once(lambda: load(args.tickets, ids)):,.0f} s", flush=True)
    total = Ticket.objects.count()
    if total < 1000:
        raise SystemExit("No tickets loaded: run without --reuse first.")
    today = kpis.local_today()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM sla_ticketsla), (SELECT count(*) FROM triage_triageresult),"
            " (SELECT count(*) FROM tickets_comment), (SELECT count(*) FROM tickets_ticketaudit),"
            " (SELECT count(*) FROM tickets_ticket WHERE status IN ('new','open','in_progress','pending_customer'))"
        )
        clocks, triage, comments, audit, backlog = cursor.fetchone()
    print(
        f"\n{total:,} tickets ({backlog:,} open), {clocks:,} SLA clocks, {triage:,} triage results, "
        f"{comments:,} replies, {audit:,} audit rows. Two shared, loaded cores: figures vary between runs.\n"
    )

    if not args.only_requests:
        print("Snapshots (what the dashboard's trends read):")
        yesterday = today - timedelta(days=1)
        day_seconds = once(lambda: snapshots.write_days(yesterday, yesterday))
        rows_per_day = KPISnapshot.objects.filter(day=yesterday).count()
        print(
            f"  one day (every KPI × grouping, {rows_per_day:,} rows): {day_seconds:,.1f} s  (target ≤ 60 s)"
        )
        if not args.skip_year:
            year = once(lambda: snapshots.rebuild(today - timedelta(days=364), today))
            print(
                f"  a year of kpi_snapshot (365 days, chunks of 31): {year / 60:,.1f} min  (target ≤ 15 min)"
            )
        else:
            snapshots.rebuild(today - timedelta(days=65), today)
        naive_day = once(lambda: naive_kpis(*kpis.day_bounds(yesterday, yesterday)) and None)
        naive_day_teams = once(lambda: naive_kpis(*kpis.day_bounds(yesterday, yesterday), group_by="team"))
        print(
            f"  naive day (six figures, two groupings, rows into Python): {naive_day + naive_day_teams:,.1f} s"
            f" → a naive year ≈ {(naive_day + naive_day_teams) * 365 / 60:,.0f} min for a fraction of the KPIs"
        )

    client = Client()
    _token, key = ApiToken.issue(ids["agent"], name="bench")
    headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
    first = today - timedelta(days=29)
    start, end = kpis.day_bounds(first, today)
    print(f"\n{'case':<52} {'median ms':>10} {'p95 ms':>10} {'cpu ms':>8} {'queries':>8}")
    print("-" * 93)

    def case(label: str, function, target: str = "", repeat: int | None = None) -> None:
        if args.only_requests and label.lstrip().startswith("naive"):
            return
        median, p95, cpu = timings(function, repeat or args.repeat)
        with CaptureQueriesContext(connection) as queries:
            function()
        cpu_text = "—" if cpu is None else f"{cpu:.1f}"
        print(
            f"{label:<52} {median:>10.1f} {p95:>10.1f} {cpu_text:>8} {len(queries):>8}  {target}", flush=True
        )

    def get(path: str, params: dict | None = None, **extra):
        def call():
            response = client.get(path, params or {}, **extra)
            assert response.status_code == 200, (path, response.status_code)

        return call

    case(
        "GET /api/kpis/ (30 days)", get("/api/kpis/", {"from": first, "to": today}, **headers), "target ≤ 300"
    )
    case("  naive: the same figures from rows in Python", lambda: naive_kpis(start, end), repeat=3)
    case("GET /api/kpis/?group_by=team (30 days)", get("/api/kpis/", {"group_by": "team"}, **headers))
    case("  naive, by team", lambda: naive_kpis(start, end, "team"), repeat=3)
    case(
        "GET /api/kpis/timeseries/ mttr_hours by day",
        get("/api/kpis/timeseries/", {"metric": "mttr_hours"}, **headers),
    )
    case(
        "business-hours MTTR, 30 days (SQL function)",
        lambda: kpis.compute(["mttr_business_hours"], start, end, user=None),
    )
    case("  naive: sla.business_time.between per ticket", lambda: naive_business_mttr(start, end), repeat=1)
    client.force_login(ids["agent"])
    case("GET /dashboard/ (30 days): the page", get("/dashboard/"), "target p95 ≤ 300")
    panels = ("tiles", "trends", "breakdowns")
    for panel in panels:
        case(f"  panel {panel} (HTMX)", get(f"/dashboard/panel/{panel}/", HTTP_HX_REQUEST="true"))
    case(
        "  page and its three panels, one after the other",
        lambda: (
            [get("/dashboard/")()]
            + [get(f"/dashboard/panel/{panel}/", HTTP_HX_REQUEST="true")() for panel in panels]
        ),
        repeat=max(3, args.repeat // 4),
    )
    team = {"team": ids["teams"][1]}
    case("GET /dashboard/ (30 days, one team): the page", get("/dashboard/", team))
    for panel in panels:
        case(f"  panel {panel}, one team", get(f"/dashboard/panel/{panel}/", team, HTTP_HX_REQUEST="true"))
    case(
        "  naive: two periods and four breakdowns in Python",
        lambda: (
            [naive_kpis(start - (end - start), start), naive_kpis(start, end)]
            + [naive_kpis(start, end, "team") for _ in range(4)]
        ),
        repeat=3,
    )
    case("GET /home/ (agent)", get("/home/"))
    client.logout()
    case("GET /metrics", get("/metrics"), "target ≤ 100")
    case("  naive: the same gauges from rows in Python", naive_metrics)


if __name__ == "__main__":
    main()
