"""Ticket list latency at scale: GET /api/tickets/ and the queue page /tickets/.

    .venv/bin/python bench/tickets_list.py                 # 1,000,000 tickets, 30 requests per case
    .venv/bin/python bench/tickets_list.py --rows 100000 --repeat 20
    .venv/bin/python bench/tickets_list.py --reuse         # measure again without reloading

Loads N tickets into a dedicated database (``itsm_bench`` on the embedded server, or
``BENCH_DATABASE_URL``) with set-based ``INSERT … SELECT generate_series`` batches: every
trigger (audit trail, delete protection), index and generated column of production stays on.
Then it times requests through Django's test client (the whole middleware and DRF stack,
token authentication included) and prints median and p95 per case.

Tickets loaded this way bypass the Python signals (no SLA clocks, no AI triage rows): the
figures are those of the ticket list itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 5_000
TEAMS = ["Service Desk", "Network", "Identity", "Workplace", "Applications", "Security", "Data", "Facilities"]
AGENTS_PER_TEAM = 8
REQUESTERS = 2000
CATEGORIES = [
    "Network",
    "VPN",
    "Email",
    "Printer",
    "Laptop",
    "Access",
    "Password",
    "Software",
    "Database",
    "Phone",
    "Storage",
    "Wifi",
    "Monitor",
    "Account",
    "Badge",
]
SUBJECTS = [
    "VPN",
    "printer",
    "laptop",
    "mailbox",
    "password",
    "wifi",
    "monitor",
    "badge",
    "database",
    "phone",
    "Teams",
    "SharePoint",
    "Outlook",
    "Excel",
    "Jira",
    "SAP",
    "payroll",
    "server",
    "backup",
    "disk",
]
PROBLEMS = [
    "does not start",
    "is very slow",
    "keeps disconnecting",
    "shows an error",
    "needs a reset",
    "cannot be reached",
    "lost my data",
    "asks for a licence",
    "crashes on open",
    "is locked",
]


def drop_database(database: str) -> None:
    """``--fresh``: drop the benchmark database on the embedded server (never another one)."""
    import psycopg
    from psycopg import sql

    from itsm.embedded_db import ensure_server

    if not database.startswith("itsm_bench"):
        raise SystemExit(f"--fresh only drops databases named itsm_bench…, not {database!r}")
    root = Path(__file__).resolve().parent.parent
    server = ensure_server(Path(os.environ.get("ITSM_VAR_DIR", root / "var")) / "pgdata")
    conninfo = {"dbname": server["MAINTENANCE_NAME"], "user": server["USER"], "host": server["HOST"]}
    if server["PORT"]:
        conninfo["port"] = server["PORT"]
    with psycopg.connect(**conninfo, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
    print(f"Dropped {database}.", flush=True)


def configure(database: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
    os.environ.setdefault("ITSM_ENV", "development")
    os.environ.setdefault("DEBUG", "false")  # no query log in memory, as in production
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["EMBEDDED_DATABASE_NAME"] = database
    import django

    django.setup()


def seed_people() -> dict[str, list[int]]:
    from itsm.models import Organisation, Role, Team, User
    from tickets.models import Category

    tiers = ["enterprise", "business", "standard", "free"]
    organisations = [
        Organisation.objects.get_or_create(name=f"Customer {i:02d}", defaults={"tier": tiers[i % 4]})[0]
        for i in range(20)
    ]
    teams = [Team.objects.get_or_create(name=name)[0] for name in TEAMS]
    agents = []
    for t, team in enumerate(teams):
        for a in range(AGENTS_PER_TEAM):
            user, _ = User.objects.get_or_create(
                email=f"agent{t:02d}{a:02d}@bench.example",
                defaults={"role": Role.AGENT, "full_name": f"Agent {t}-{a}"},
            )
            team.members.add(user)
            agents.append(user)
    existing = set(User.objects.filter(email__startswith="user").values_list("email", flat=True))
    User.objects.bulk_create(
        [
            User(
                email=f"user{i:05d}@bench.example",
                role=Role.USER,
                organisation=organisations[i % 20],
                password="!",
            )  # unusable password
            for i in range(REQUESTERS)
            if f"user{i:05d}@bench.example" not in existing
        ]
    )
    categories = [Category.objects.get_or_create(name=name)[0] for name in CATEGORIES]
    requesters = list(
        User.objects.filter(email__startswith="user", email__endswith="@bench.example")
        .order_by("email")
        .values_list("pk", "organisation_id")
    )
    return {
        "teams": [team.pk for team in teams],
        "agents": [agent.pk for agent in agents],
        "requesters": [pk for pk, _org in requesters],
        "requester_orgs": [org for _pk, org in requesters],
        "categories": [category.pk for category in categories],
    }


def sql_array(values: list) -> str:
    return "ARRAY[" + ",".join("NULL" if v is None else str(int(v)) for v in values) + "]::bigint[]"


def text_array(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"


def insert_sql(offset: int, size: int, total: int, ids: dict[str, list[int]]) -> str:
    """One INSERT … SELECT generate_series batch; numbers come from the same sequences as the ORM."""
    teams, agents = sql_array(ids["teams"]), sql_array(ids["agents"])
    requesters, orgs = sql_array(ids["requesters"]), sql_array(ids["requester_orgs"])
    categories = sql_array(ids["categories"])
    subjects, problems = text_array(SUBJECTS), text_array(PROBLEMS)
    n_teams, n_req, n_cat = len(ids["teams"]), len(ids["requesters"]), len(ids["categories"])
    statuses = text_array(
        ["new"] * 20
        + ["open"] * 20
        + ["in_progress"] * 15
        + ["pending_customer"] * 5
        + ["pending_vendor"] * 5
        + ["resolved"] * 20
        + ["closed"] * 14
        + ["cancelled"]
    )
    levels = text_array(["high", "medium", "medium", "low", "low"])
    # h1..h3: cheap deterministic hashes of the row index spread the values.
    return f"""
        WITH rows AS (
            SELECT i,
                   (i * 2654435761) % 1000003 AS h1,
                   (i * 40503 + 7) % 999983 AS h2,
                   (i * 69069 + 1) % 1000033 AS h3,
                   CASE WHEN i % 5 = 0 THEN 'service_request' ELSE 'incident' END AS type
            FROM generate_series({offset + 1}::bigint, {offset + size}::bigint) AS i
        ), shaped AS (
            SELECT rows.*,
                   ({statuses})[1 + h1 % 100] AS status,
                   ({levels})[1 + h2 % 5] AS impact,
                   ({levels})[1 + h3 % 5] AS urgency,
                   1 + h2 % {n_teams} AS team_index,
                   1 + h3 % {n_req} AS requester_index,
                   now() - ({total} - i) * interval '60 seconds' AS created,
                   CASE WHEN type = 'incident' THEN nextval('tickets_incident_number_seq')
                        ELSE nextval('tickets_request_number_seq') END AS seq
            FROM rows
        )
        INSERT INTO tickets_ticket (
            number, type, title, description, status, impact, urgency, priority, priority_overridden,
            priority_reason, category_id, service, channel, requester_id, organisation_id, assignee_id, team_id,
            tags, linked_entity_type, linked_entity_id, sensitive, archived, resolution, metadata, external_key,
            created_at, updated_at, first_response_at, resolved_at, closed_at, reopen_count, version
        )
        SELECT
            -- at least six digits, as the ORM writes them; never truncated past 999999
            CASE WHEN type = 'incident' THEN 'INC-' ELSE 'REQ-' END
                || lpad(seq::text, greatest(6, length(seq::text)), '0'),
            type,
            initcap(({subjects})[1 + h1 % {len(SUBJECTS)}]) || ' ' || ({problems})[1 + h2 % {len(PROBLEMS)}],
            'Since this morning the ' || ({subjects})[1 + h1 % {len(SUBJECTS)}] || ' '
                || ({problems})[1 + h3 % {len(PROBLEMS)}] || '. Ticket ' || i || ' of the benchmark; '
                || 'user reports it on floor ' || (h2 % 9) || ' and asks for help.',
            status, impact, urgency,
            CASE WHEN impact = 'high' AND urgency = 'high' THEN 'critical'
                 WHEN (impact, urgency) IN (('high', 'medium'), ('medium', 'high')) THEN 'high'
                 WHEN (impact, urgency) IN (('high', 'low'), ('medium', 'medium'), ('low', 'high')) THEN 'medium'
                 ELSE 'low' END,
            false, '',
            CASE WHEN h3 % 10 = 0 THEN NULL ELSE ({categories})[1 + h1 % {n_cat}] END,
            '', 'web',
            ({requesters})[requester_index], ({orgs})[requester_index],
            CASE WHEN h1 % 10 < 3 THEN NULL
                 ELSE ({agents})[(team_index - 1) * {AGENTS_PER_TEAM} + 1 + h1 % {AGENTS_PER_TEAM}] END,
            ({teams})[team_index],
            CASE WHEN h2 % 4 = 0 THEN ARRAY[lower(({subjects})[1 + h1 % {len(SUBJECTS)}])]::varchar(50)[]
                 ELSE ARRAY[]::varchar(50)[] END,
            '', '', h3 % 100 = 0, h2 % 100 = 0,
            CASE WHEN status IN ('resolved', 'closed') THEN 'Fixed by the benchmark' ELSE '' END,
            '{{}}'::jsonb, '',
            created, created + interval '1 hour',
            CASE WHEN status <> 'new' THEN created + interval '20 minutes' END,
            CASE WHEN status IN ('resolved', 'closed') THEN created + interval '1 hour' END,
            CASE WHEN status = 'closed' THEN created + interval '1 hour' END,
            0, 1
        FROM shaped
        """  # noqa: S608 - generated from constants


def load_tickets(total: int, ids: dict[str, list[int]]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_ticket")
        start = cursor.fetchone()[0]
    # Batches of a few thousand rows: one huge INSERT gets slower per row (its after-row trigger
    # queue and the GIN pending list grow with it).
    began, done = time.perf_counter(), 0
    for offset in range(start, total, BATCH):
        size = min(BATCH, total - offset)
        with connection.cursor() as cursor:
            cursor.execute(insert_sql(offset, size, total, ids))
        done += size
        if (offset + size) % 50_000 == 0 or offset + size == total:
            rate = done / (time.perf_counter() - began)
            print(f"  loaded {offset + size:>9,} tickets ({rate:,.0f} rows/s)", flush=True)
    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk insert in production: statistics for the
        # planner and the visibility map that index-only scans need.
        cursor.execute("VACUUM ANALYZE tickets_ticket")
        cursor.execute("VACUUM ANALYZE tickets_ticketaudit")


def measure(client, path: str, params: dict, repeat: int, headers: dict) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm the caches, the token's last-use stamp, the plans
        response = client.get(path, params, **headers)
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(path, params, **headers)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, params, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(path, params, **headers)
    count = response.json().get("count", -1) if path.startswith("/api/") else -1
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(round(0.95 * len(timings))) - 1)]
    return statistics.median(timings), p95, len(queries), count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database", default="itsm_bench")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the loaded database again, load nothing"
    )
    parser.add_argument("--fresh", action="store_true", help="drop the benchmark database first")
    args = parser.parse_args()
    if args.fresh and not os.environ.get("BENCH_DATABASE_URL"):
        drop_database(args.database)
    configure(args.database)

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from itsm.models import ApiToken, Team, User
    from tickets.models import Ticket

    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"Migrated in {time.perf_counter() - began:,.0f} s", flush=True)
    ids = seed_people()
    if not args.reuse:
        print(f"Loading {args.rows:,} tickets into {connection.settings_dict['NAME']} …", flush=True)
        loading = time.perf_counter()
        load_tickets(args.rows, ids)
        print(f"Loaded and analysed in {time.perf_counter() - loading:,.0f} s", flush=True)
    total = Ticket.objects.count()
    if total < 1_000:
        raise SystemExit(
            f"{connection.settings_dict['NAME']} holds {total:,} tickets: run without --reuse to load them first."
        )
    print(f"{total:,} tickets ready in {time.perf_counter() - began:,.0f} s", flush=True)

    agent = User.objects.get(email="agent0100@bench.example")  # in "Network"
    requester = User.objects.get(email="user00007@bench.example")
    _token, key = ApiToken.issue(agent, name="bench")
    _token, requester_key = ApiToken.issue(requester, name="bench")
    agent_headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
    requester_headers = {"HTTP_AUTHORIZATION": f"Token {requester_key}"}
    network = Team.objects.get(name="Network")
    assignee = User.objects.get(email="agent0203@bench.example").email
    some_number = Ticket.objects.order_by("-id").values_list("number", flat=True)[500]
    client = Client()

    cases: list[tuple[str, str, dict, dict]] = [
        ("API, no filter", "/api/tickets/", {}, agent_headers),
        (
            "API, status=open & priority=high",
            "/api/tickets/",
            {"status": "open", "priority": "high"},
            agent_headers,
        ),
        ("API, team=Network", "/api/tickets/", {"team": network.name}, agent_headers),
        ("API, assignee=<email>", "/api/tickets/", {"assignee": assignee}, agent_headers),
        ('API, search="printer slow"', "/api/tickets/", {"search": "printer slow"}, agent_headers),
        ("API, search=<number>", "/api/tickets/", {"search": some_number}, agent_headers),
        ("API, sort=priority", "/api/tickets/", {"sort": "priority"}, agent_headers),
        ("API, requester's own list", "/api/tickets/", {}, requester_headers),
        ("API, stats", "/api/tickets/stats/", {}, agent_headers),
    ]
    try:
        queue = reverse("tickets:ticket-list")
    except NoReverseMatch:
        queue = None
        print("(the queue page tickets:ticket-list does not resolve: its measurement is skipped)")
    if queue:
        client.force_login(agent)
        cases += [
            ("Queue page, no filter", queue, {}, {}),
            ("Queue page, status=open & priority=high", queue, {"status": "open", "priority": "high"}, {}),
            ("Queue page, team=Network", queue, {"team": network.pk}, {}),
            ("Queue page, assignee=<email>", queue, {"assignee": assignee}, {}),
            ('Queue page, search="printer slow"', queue, {"search": "printer slow"}, {}),
        ]

    print(f"\n{total:,} tickets, {args.repeat} requests per case (after 3 warm-up requests)\n")
    print(f"{'case':<44} {'median ms':>10} {'p95 ms':>10} {'queries':>8} {'matches':>10}")
    print("-" * 86)
    for label, path, params, headers in cases:
        try:
            median, p95, queries, count = measure(client, path, params, args.repeat, headers)
        except Exception as error:  # one broken case (another app's page, say) must not hide the others
            print(
                f"{label:<44} failed: {type(error).__name__}: {str(error).splitlines()[0][:80]}", flush=True
            )
            continue
        shown = f"{count:,}" if count >= 0 else ""
        print(f"{label:<44} {median:>10.1f} {p95:>10.1f} {queries:>8} {shown:>10}", flush=True)


if __name__ == "__main__":
    main()
