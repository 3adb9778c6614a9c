"""The queue page and the ticket page over real HTTP, side by side with /healthz.

    .venv/bin/python bench/queue_page.py                   # 100,000 tickets, 50 requests per case
    .venv/bin/python bench/queue_page.py --reuse           # measure again without reloading
    .venv/bin/python bench/queue_page.py --rows 20000 --repeat 20

Loads tickets as ``bench/tickets_list.py`` does (same database, ``itsm_bench``, so either
script's load serves the other), starts gunicorn with 2 workers × 4 threads and DEBUG off
against it, signs an agent in, and times GET requests from one client over keep-alive HTTP:
``/healthz``, ``GET /api/tickets/``, the queue page ``/tickets/``, its HTMX table partial, a
ticket page, and the page of a ticket with a long history (``--history``: that many replies
and as many saves, added once to one ticket; the page shows the newest entries and the whole
timeline on demand, ``?timeline=all``, measured too, fewer times). The cases are taken in turn,
one request of each per round, so a slower moment of the machine weighs on all of them alike.
Prints median and p95 per case and the ratio of each page's median to the median of
``/healthz`` measured in the same run (the target of issue 19: the queue page ≤ 3×).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(cases: list, base: str, repeat: int) -> dict[str, tuple[float, float, int]]:
    """Median, p95 and size of each case, the cases taken in turn (one request of each per
    round), so that a slower moment of a shared machine weighs on all of them alike and the
    ratios to ``/healthz`` stay comparable."""
    for _label, session, path, headers in cases:  # warm: connections, template and plan caches
        for _ in range(5):
            session.get(f"{base}{path}", headers=headers, timeout=30)
    timings: dict[str, list[float]] = {label: [] for label, *_rest in cases}
    sizes: dict[str, int] = {}
    for _ in range(repeat):
        for label, session, path, headers in cases:
            began = time.perf_counter()
            response = session.get(f"{base}{path}", headers=headers, timeout=30)
            timings[label].append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code}")
            sizes[label] = len(response.content)
    figures = {}
    for label, values in timings.items():
        values.sort()
        p95 = values[min(len(values) - 1, int(round(0.95 * len(values))) - 1)]
        figures[label] = (statistics.median(values), p95, sizes[label])
    return figures


def long_history(ticket, entries: int):
    """``entries`` replies and as many audited saves on ``ticket``, an hour apart, added once
    (set-based; the audit rows as the triggers write them, the table being append-only)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_comment WHERE ticket_id = %s", [ticket.pk])
        if cursor.fetchone()[0] >= entries:
            return ticket
        print(f"Adding {entries:,} replies and saves to {ticket.number} …", flush=True)
        cursor.execute(
            """
            INSERT INTO tickets_comment (ticket_id, author_id, author_label, body, internal, source,
                external_id, created_at, updated_at)
            SELECT %(ticket)s, %(author)s, '', 'Monitoring: the disk of db-01 is at ' || (50 + g %% 50) || ' %%.',
                g %% 5 = 0, 'email', '', t.created_at + g * interval '1 hour', t.created_at + g * interval '1 hour'
            FROM generate_series(1, %(entries)s) AS g, tickets_ticket t WHERE t.id = %(ticket)s
            """,
            {"ticket": ticket.pk, "author": ticket.requester_id, "entries": entries},
        )
        cursor.execute(
            """
            INSERT INTO tickets_ticketaudit (pgh_created_at, pgh_label, pgh_context, status, priority,
                sensitive, assignee_id, category_id, pgh_obj_id, team_id)
            SELECT t.created_at + g * interval '1 hour' + interval '1 minute', 'changed',
                '{"actor": "monitor@bench.example", "reason": ""}'::jsonb,
                (ARRAY['open','in_progress','pending_customer'])[1 + g %% 3],
                (ARRAY['low','medium','high'])[1 + g %% 3], false, t.assignee_id, t.category_id, t.id, t.team_id
            FROM generate_series(1, %(entries)s) AS g, tickets_ticket t WHERE t.id = %(ticket)s
            """,
            {"ticket": ticket.pk, "entries": entries},
        )
    return ticket


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database", default="itsm_bench")
    parser.add_argument("--reuse", action="store_true", help="measure the loaded database again")
    parser.add_argument("--history", type=int, default=2000, help="replies and saves of the long ticket")
    args = parser.parse_args()

    import tickets_list  # the loader of bench/tickets_list.py

    tickets_list.configure(args.database)
    import requests
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from itsm.models import ApiToken, User
    from tickets.models import Ticket

    call_command("migrate", verbosity=0)
    ids = tickets_list.seed_people()
    total = Ticket.objects.count()
    if not args.reuse and total < args.rows:
        print(f"Loading {args.rows - total:,} tickets …", flush=True)
        tickets_list.load_tickets(args.rows, ids)
        total = Ticket.objects.count()
    print(f"{total:,} tickets in {args.database}", flush=True)

    agent = User.objects.get(email="agent0100@bench.example")
    _token, key = ApiToken.issue(agent, name="bench-queue-page")
    session_store = SessionStore()
    session_store["_auth_user_id"] = str(agent.pk)
    session_store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session_store["_auth_user_hash"] = agent.get_session_auth_hash()
    session_store.create()
    ticket = Ticket.objects.visible_to(agent).order_by("-id").first()
    long_ticket = long_history(Ticket.objects.visible_to(agent).order_by("id").first(), args.history)

    port = free_port()
    environment = {
        **os.environ,
        "ITSM_ENV": "development",
        "DEBUG": "false",
        "LOG_LEVEL": "ERROR",
        "EMBEDDED_DATABASE_NAME": args.database,
        "CONN_MAX_AGE": "60",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "itsm.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "2", "--threads", "4", "--log-level", "warning"],
        cwd=ROOT,
        env=environment,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=30)
                break
            except (requests.ConnectionError, requests.Timeout):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.3)
        browser = requests.Session()
        browser.cookies.set(settings.SESSION_COOKIE_NAME, session_store.session_key)
        api = requests.Session()
        api.headers["Authorization"] = f"Token {key}"
        cases = [
            ("/healthz", browser, "/healthz", None),
            ("GET /api/tickets/", api, "/api/tickets/", None),
            ("queue page /tickets/", browser, "/tickets/", None),
            ("queue table partial (HTMX)", browser, "/tickets/", {"HX-Request": "true"}),
            ("ticket page", browser, f"/tickets/{ticket.pk}/", None),
            (f"ticket, {args.history:,} replies+saves", browser, f"/tickets/{long_ticket.pk}/", None),
            ("  its whole timeline", browser, f"/tickets/{long_ticket.pk}/?timeline=all", None),
        ]
        print(
            f"\n{total:,} tickets; gunicorn 2 workers x 4 threads, DEBUG off; {args.repeat} requests per case\n"
        )
        print(f"{'case':<30} {'median ms':>10} {'p95 ms':>10} {'KiB':>7} {'x healthz':>10}")
        print("-" * 71)
        # The whole timeline of the long ticket takes seconds: measured after the others, fewer times.
        figures = timed(cases[:-1], base, args.repeat)
        figures.update(timed(cases[-1:], base, max(3, args.repeat // 10)))
        healthz = figures[cases[0][0]][0]
        for label, *_rest in cases:
            median, p95, size = figures[label]
            print(f"{label:<30} {median:>10.1f} {p95:>10.1f} {size / 1024:>7.0f} {median / healthz:>10.1f}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
