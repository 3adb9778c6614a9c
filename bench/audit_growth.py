"""Does the ticket audit trail need partitioning? Its queries at 1 and 10 million rows.

    .venv/bin/python bench/audit_growth.py                  # grow to 1,000,000 then 10,000,000 rows
    .venv/bin/python bench/audit_growth.py --steps 1000000  # one step
    .venv/bin/python bench/audit_growth.py --reuse          # measure the rows already there

Works in a database of its own, ``itsm_audit_bench`` (its rows would weigh on the other
benchmarks' ticket pages), where it loads ``--tickets`` (100,000) tickets as
``bench/tickets_list.py`` does. The audit table (``tickets_ticketaudit``, written by a trigger on every ticket
change) is grown with set-based ``INSERT … SELECT generate_series``: rows spread over the
tickets (about 100 per ticket at 10 million) and over two years. At each size it times, median
and p95 over repeated runs:

- a ticket's audit trail as its page reads it (``tickets/models/audit.py: audit_trail``);
- the KPIs that read the audit table (``mtta_minutes`` joins each ticket's first assignment,
  ``backlog_open`` a cancelled ticket's cancellation) for 30 days, through ``itsm.kpis``;
- retention: deleting one month of audit rows (what archiving old tickets does), against what
  dropping a monthly partition costs (a catalogue change, independent of the rows);

and prints the table and index sizes. The table is append-only (a trigger refuses UPDATE and
DELETE): the retention step disables that trigger inside its transaction and rolls back, so the
rows stay.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BATCH = 500_000


def timed(function, repeat: int) -> tuple[float, float]:
    for _ in range(2):
        function()
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return statistics.median(timings), timings[min(len(timings) - 1, int(round(0.95 * len(timings))) - 1)]


def grow(cursor, target: int, tickets: tuple[int, int]) -> int:
    cursor.execute("SELECT count(*) FROM tickets_ticketaudit")
    rows = cursor.fetchone()[0]
    low, high = tickets
    while rows < target:
        batch = min(BATCH, target - rows)
        began = time.perf_counter()
        # Statuses and assignees as the trigger writes them; times over the last two years.
        cursor.execute(
            """
            INSERT INTO tickets_ticketaudit (pgh_created_at, pgh_label, pgh_context, status, priority,
                sensitive, assignee_id, category_id, pgh_obj_id, team_id)
            SELECT now() - (random() * interval '730 days'), 'updated', NULL,
                (ARRAY['new','open','in_progress','pending_customer','resolved','closed','cancelled'])
                    [1 + (g %% 7)],
                (ARRAY['low','medium','high','critical'])[1 + (g %% 4)],
                false, NULL, NULL, %s + (g %% %s), NULL
            FROM generate_series(1, %s) AS g
            """,
            [low, high - low + 1, batch],
        )
        rows += batch
        print(f"  {rows:>12,} audit rows ({batch / (time.perf_counter() - began):,.0f} rows/s)", flush=True)
    cursor.execute("VACUUM ANALYZE tickets_ticketaudit")
    return rows


def sizes(cursor) -> str:
    cursor.execute(
        "SELECT pg_size_pretty(pg_table_size('tickets_ticketaudit')),"
        " pg_size_pretty(pg_indexes_size('tickets_ticketaudit'))"
    )
    table, indexes = cursor.fetchone()
    return f"table {table}, indexes {indexes}"


def measure(rows: int, repeat: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from itsm import kpis
    from tickets.models import Ticket
    from tickets.models.audit import audit_trail

    ids = list(Ticket.objects.order_by("?").values_list("pk", flat=True)[:200])
    sample = [Ticket.objects.get(pk=pk) for pk in ids[:50]]
    picker = random.Random(7)
    end = timezone.now()
    start = end - timedelta(days=30)
    with connection.cursor() as cursor:
        print(f"\n{rows:,} audit rows: {sizes(cursor)}")
    cases = [
        ("a ticket's audit trail (page)", lambda: audit_trail(picker.choice(sample))),
        ("mtta_minutes, 30 days", lambda: kpis.compute(["mtta_minutes"], start, end, user=None)),
        ("backlog_open, 30 days", lambda: kpis.compute(["backlog_open"], start, end, user=None)),
    ]
    for label, function in cases:
        median, p95 = timed(function, repeat)
        print(f"  {label:<34} median {median:8.1f} ms   p95 {p95:8.1f} ms")

    def delete_a_month() -> float:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE tickets_ticketaudit DISABLE TRIGGER USER")
            began = time.perf_counter()
            cursor.execute(
                "DELETE FROM tickets_ticketaudit WHERE pgh_created_at >= now() - interval '730 days'"
                " AND pgh_created_at < now() - interval '700 days'"
            )
            deleted = cursor.rowcount
            elapsed = (time.perf_counter() - began) * 1000
            transaction.set_rollback(True)
        print(f"  retention: DELETE one month ({deleted:,} rows)  {elapsed:8.0f} ms (rolled back)")
        return elapsed

    delete_a_month()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_partitioned (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at)"
        )
        cursor.execute(
            "CREATE TABLE bench_partition_month PARTITION OF bench_partitioned"
            " FOR VALUES FROM ('2025-01-01') TO ('2025-02-01')"
        )
        cursor.execute(
            "INSERT INTO bench_partitioned SELECT g, timestamptz '2025-01-01' + g * interval '1 second'"
            " FROM generate_series(1, %s) AS g",
            [rows // 24],
        )
        began = time.perf_counter()
        cursor.execute("ALTER TABLE bench_partitioned DETACH PARTITION bench_partition_month")
        cursor.execute("DROP TABLE bench_partition_month")
        print(
            f"  retention: DETACH + DROP a month's partition ({rows // 24:,} rows)"
            f"  {(time.perf_counter() - began) * 1000:8.1f} ms (rolled back)"
        )
        transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="1000000,10000000", help="audit row counts to measure at")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="measure the rows already there")
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets to load first when fewer")
    parser.add_argument("--database", default="itsm_audit_bench")
    args = parser.parse_args()

    import tickets_list

    tickets_list.configure(args.database)
    from django.core.management import call_command
    from django.db import connection

    from tickets.models import Ticket

    call_command("migrate", verbosity=0)
    if Ticket.objects.count() < args.tickets:
        print(f"Loading {args.tickets:,} tickets …", flush=True)
        tickets_list.load_tickets(args.tickets, tickets_list.seed_people())
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM tickets_ticket")
        bounds = cursor.fetchone()
        if args.reuse:
            cursor.execute("SELECT count(*) FROM tickets_ticketaudit")
            measure(cursor.fetchone()[0], args.repeat)
            return
    for target in [int(step) for step in args.steps.split(",")]:
        with connection.cursor() as cursor:
            rows = grow(cursor, target, bounds)
        measure(rows, args.repeat)


if __name__ == "__main__":
    main()
