"""The copilot's local planner: latency of answering the evaluation set's questions.

    .venv/bin/python bench/copilot_answer.py [--rounds 5] [--history-copies 0] [--database itsm_bench_copilot] [--reuse]

Loads the demo desk (``seed_demo``) into a database of its own (``itsm_bench_copilot`` on the
embedded server, or ``BENCH_DATABASE_URL``); ``--history-copies N`` adds N copies of each of the
demo's 90 days of history tickets (one ``INSERT … SELECT``, every trigger on) for a bigger desk.
Then it asks every question of
``ai/copilot/evaluation.py`` ``--rounds`` times as its demo user through ``ai.copilot.actions.answer`` (planner ``local``: intent, tools, answer; nothing is
recorded) and prints p50/p95/max per intent and overall, the local MiniLM loaded beforehand
(its first load is a one-off of the process, not of an answer).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def configure(database: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
    os.environ.setdefault("ITSM_ENV", "development")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ["AI_COPILOT_PLANNER"] = "local"
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["EMBEDDED_DATABASE_NAME"] = database
    import django

    django.setup()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def copy_history(copies: int) -> None:
    """``copies`` copies of each demo history ticket under fresh numbers, set-based (every trigger
    on). Copies are marked ``bench_copy`` and never copied again."""
    from django.db import connection

    columns = (
        "type, title, description, status, impact, urgency, priority, priority_overridden, priority_reason,"
        " category_id, service, channel, requester_id, organisation_id, assignee_id, team_id, tags,"
        " linked_entity_type, linked_entity_id, sensitive, archived, resolution, metadata, external_key,"
        " created_by_id, created_at, updated_at, first_response_at, resolved_at, closed_at, reopen_count, version"
    )
    selected = columns.replace("metadata", "metadata || jsonb_build_object('bench_copy', n)")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO tickets_ticket (number, {columns})"  # noqa: S608 - a fixed column list
            f" SELECT 'INC-' || lpad(nextval('tickets_incident_number_seq')::text, 6, '0'), {selected}"
            " FROM tickets_ticket, generate_series(1, %s) AS n"
            " WHERE metadata ? 'demo_history' AND NOT metadata ? 'bench_copy'",
            [copies],
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--history-copies", type=int, default=0, help="copies of each demo history ticket")
    parser.add_argument("--database", default="itsm_bench_copilot")
    parser.add_argument("--reuse", action="store_true", help="keep the loaded desk")
    args = parser.parse_args()
    if not args.database.startswith("itsm_bench"):
        parser.error("use a database of its own for the bench (--database itsm_bench_…)")
    configure(args.database)

    from django.core.management import call_command

    from ai.copilot import actions, evaluation
    from ai.copilot.planner import nearest_intent
    from itsm.models import User
    from tickets.models import Ticket

    call_command("migrate", verbosity=0)
    if not args.reuse or not evaluation.demo_numbers():
        from sla.defaults import ensure_defaults

        ensure_defaults()
        call_command("seed_demo", verbosity=0)
        if args.history_copies:
            copy_history(args.history_copies)
    print(f"{Ticket.objects.count():,} tickets in {args.database}", flush=True)
    nearest_intent("warm up the local embeddings")
    numbers = evaluation.demo_numbers()
    users = {user.email: user for user in User.objects.filter(email__in={c.user for c in evaluation.CASES})}
    by_intent: dict[str, list[float]] = {}
    for _round in range(args.rounds):
        for case in evaluation.CASES:
            question = evaluation.fill(case.question, numbers)
            started = time.perf_counter()
            actions.answer(question, users[case.user], planner="local")
            by_intent.setdefault(case.intent, []).append((time.perf_counter() - started) * 1000)
    every = [value for values in by_intent.values() for value in values]
    print(f"{'intent':<10} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for intent, values in sorted(by_intent.items()):
        print(
            f"{intent:<10} {len(values):>4} {statistics.median(values):>8.1f} {percentile(values, 0.95):>8.1f}"
            f" {max(values):>8.1f}"
        )
    print(
        f"{'all':<10} {len(every):>4} {statistics.median(every):>8.1f} {percentile(every, 0.95):>8.1f}"
        f" {max(every):>8.1f}"
    )


if __name__ == "__main__":
    main()
