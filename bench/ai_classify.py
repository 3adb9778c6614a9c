"""Triage classification latency per ticket on CPU, through the product's code path.

    .venv/bin/python bench/ai_classify.py [--data-dir ../shared/data/tickets] [--tickets 500]
                                          [--database itsm_bench_triage] [--reuse]

Builds a realistic active model in a bench database of its own (created and migrated; the
default database is never touched): the ``team`` field learned from the ATA train+val rows
(74 assignment groups, one Team each with three agents for routing), ``category``, ``urgency``
and ``impact`` from the Endava train+val rows, each trained by the product's
``ai.triage.training.train_field`` (product members, out-of-fold calibration). Then classifies
held-out test tickets one at a time and prints p50/p95/p99 latency:

- ``classify_payload`` (what ``POST /api/ai/classify/`` and the worker's triage call);
- the whole API request through Django's test client (token auth, serialisers, JSON);
- the first call of a process separately (loading the model from the database).

The models read each ticket's sentence embedding as the product's do by default (the
training tickets are embedded once first; ``--no-embeddings`` for words alone), so the
per-ticket figures include embedding the ticket.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_data = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "tickets"
    parser.add_argument("--data-dir", default=str(default_data))
    parser.add_argument("--tickets", type=int, default=500, help="single-ticket classify calls to time")
    parser.add_argument("--database", default="itsm_bench_triage")
    parser.add_argument("--reuse", action="store_true", help="keep the bench database (skip drop + migrate)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-embeddings",
        action="store_true",
        help="train without the sentence-embedding features (AI_TRIAGE_EMBEDDINGS=false)",
    )
    args = parser.parse_args()
    if not args.database.startswith("itsm_bench"):
        parser.error("use a database of its own for the bench (--database itsm_bench_…)")
    if args.tickets < 1:
        parser.error("--tickets must be positive")
    return args


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def fresh_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    from itsm.embedded_db import ensure_server

    root = Path(__file__).resolve().parent.parent
    server = ensure_server(Path(os.environ.get("ITSM_VAR_DIR", root / "var")) / "pgdata")
    conninfo = {"dbname": server["MAINTENANCE_NAME"], "user": server["USER"], "host": server["HOST"]}
    if server["PORT"]:
        conninfo["port"] = server["PORT"]
    with psycopg.connect(**conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def summary(label: str, values_ms: list[float]) -> str:
    return (
        f"{label}: n={len(values_ms)} p50={percentile(values_ms, 0.5):.1f} ms "
        f"p95={percentile(values_ms, 0.95):.1f} ms p99={percentile(values_ms, 0.99):.1f} ms "
        f"mean={statistics.mean(values_ms):.1f} ms"
    )


def main() -> None:
    args = parse_args()
    if os.environ.get("DATABASE_URL"):
        sys.exit("The bench uses a database of its own on the embedded server: unset DATABASE_URL to run it.")
    if not args.reuse:
        fresh_database(args.database)
    os.environ["EMBEDDED_DATABASE_NAME"] = args.database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("ITSM_ENV", "development")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from rest_framework.test import APIClient

    from ai.triage import predict
    from ai.triage.api import classify_payload
    from ai.triage.evaluation import load_rows
    from ai.triage.models import TriageModel, TriageSettings
    from ai.triage.predict import dump_bundle
    from ai.triage.training import TrainingRow, embed_rows, product_config, train_field
    from itsm.models import ApiToken, Role, Team, User
    from tickets.models import Category

    print(
        f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}, database: {args.database}",
        flush=True,
    )
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrated in {time.perf_counter() - started:.0f}s", flush=True)

    ata = load_rows("ata", args.data_dir)
    endava = load_rows("endava", args.data_dir)
    with transaction.atomic():
        TriageModel.objects.all().delete()
        groups = sorted({row.values["Assignment group"] for row in ata})
        teams = {}
        for group in groups:
            team, _ = Team.objects.get_or_create(name=f"bench {group}")
            teams[group] = team
            for n in range(3):
                user, _ = User.objects.get_or_create(
                    email=f"{group.lower()}-{n}@bench.example",
                    defaults={"role": Role.AGENT, "skills": ["general"], "capacity": 30},
                )
                team.members.add(user)
        categories = {}
        for code in sorted({row.values["category"] for row in endava}):
            categories[code], _ = Category.objects.get_or_create(name=f"bench category {code}")
        agent, _ = User.objects.get_or_create(
            email="bench-agent@bench.example", defaults={"role": Role.AGENT}
        )
    triage_settings = TriageSettings.load()

    def rows_for(source, column, mapping, keep=lambda row: True):
        return [
            TrainingRow(number=row.row_id, text=row.text, title=row.title, values={column: mapping(row)})
            for row in source
            if row.split != "test" and keep(row)
        ]

    models = {}
    specs = [
        ("team", ata, lambda row: str(teams[row.values["Assignment group"]].pk), lambda row: True),
        ("category", endava, lambda row: str(categories[row.values["category"]].pk), lambda row: True),
        # Endava codes stand in for our levels: 0/1 → high, 2 → medium, else low (incidents only).
        (
            "urgency",
            endava,
            lambda row: {"0": "high", "1": "high", "2": "medium"}.get(row.values["urgency"], "low"),
            lambda row: row.values["ticket_type"] == "0",
        ),
        (
            "impact",
            endava,
            lambda row: {"0": "high", "1": "high", "2": "medium"}.get(row.values["impact"], "low"),
            lambda row: row.values["ticket_type"] == "0",
        ),
    ]
    config = product_config(embeddings=not args.no_embeddings)
    vectors = None
    if config.needs_embeddings:
        started = time.perf_counter()
        everything = rows_for(ata, "x", lambda row: "") + rows_for(endava, "x", lambda row: "")
        vectors = embed_rows(everything)
        print(
            f"embedded {len(everything)} training tickets in {time.perf_counter() - started:.0f}s "
            f"({len(everything) / (time.perf_counter() - started):.0f}/s)",
            flush=True,
        )
    for name, source, mapping, keep in specs:
        rows = rows_for(source, name, mapping, keep)
        started = time.perf_counter()
        models[name] = train_field(name, rows, config, triage_settings.target_precision, vectors)
        print(
            f"trained {name}: {len(rows)} rows, {len(models[name].classifier.classes_)} classes, "
            f"held-out accuracy {models[name].metrics['held_out_accuracy']:.3f}, "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )
    blob = dump_bundle(models)
    TriageModel.objects.create(
        version=1,
        blob=blob,
        size_bytes=len(blob),
        training_rows={name: len(model.classifier.train_keys_) for name, model in models.items()},
        is_active=True,
    )
    print(f"model blob: {len(blob) / 1e6:.1f} MB (zlib)", flush=True)

    tests = [row for row in ata + endava if row.split == "test"]
    random.Random(args.seed).shuffle(tests)
    tests = tests[: args.tickets]

    predict.forget_cached_bundle()
    started = time.perf_counter()
    classify_payload("first call", "loads the model", "incident")
    print(
        f"first call (loads the model from the database): {(time.perf_counter() - started) * 1000:.0f} ms",
        flush=True,
    )

    timings = []
    for row in tests:
        started = time.perf_counter()
        classify_payload(row.title, row.text, "incident")
        timings.append((time.perf_counter() - started) * 1000)
    print(summary("classify_payload per ticket", timings), flush=True)

    _token, key = ApiToken.issue(agent, name="bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    timings = []
    for row in tests:
        started = time.perf_counter()
        title = (row.title or row.text)[:255]  # some Endava tickets have no title
        response = client.post(
            "/api/ai/classify/",
            {"title": title, "description": row.text},
            format="json",
            SERVER_NAME="127.0.0.1",
        )
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            sys.exit(f"classify answered {response.status_code}: {response.content[:300]!r}")
    print(summary("POST /api/ai/classify/ per ticket (in-process HTTP stack)", timings), flush=True)


if __name__ == "__main__":
    main()
