"""Configuration-item extraction: quality on the labelled set, speed against N items.

    .venv/bin/python bench/cmdb_extract.py                   # 10,000 items, 200 runs per text
    .venv/bin/python bench/cmdb_extract.py --items 50000 --repeat 100

Uses its own database (``itsm_cmdb_bench`` on the embedded server, or ``BENCH_DATABASE_URL``).

1. Precision and recall on the labelled set of ``cmdb/tests/extraction_cases.py`` (its own
   small estate of items, loaded alone).
2. N items loaded next to that estate (servers with FQDNs and addresses, services and
   applications with aliases), then per ticket text: the time to read the text
   (``find_mentions``), the two indexed queries (``match``: the keys, then the items), and a whole ``do_extract_ticket_items``
   (read, query, write the suggestions) on a real ticket; median and p95 over the runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHORT = "Customer portal answers 502 since the deploy; nginx on web01 times out talking to 10.0.2.21"
LONG = (
    "Since 09:12 the payment page fails for every customer. Timeline and logs below.\n"
    + "\n".join(
        f"2025-06-1{n % 10}T09:{n:02d}:11Z srv-app-{n * 37 % 10000:05d}.dc1.acme.example nginx[{4000 + n}]: "
        f"upstream timed out (110: Connection timed out) while reading response header from upstream, "
        f"client: 203.0.113.{n}, server: portal.acme.example, upstream: http://10.{n % 40}.{n % 200}.{n}:8080/"
        for n in range(1, 40)
    )
    + "\nWe restarted payments-api@web02 and checked Payroll DB (PAYDB) locks, version 10.2.3 of the driver,"
    " see error.log and foo.txt attached. Possibly related: backup07.acme.example and gw-backup.acme.example."
)


def configure(database: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
    os.environ.setdefault("ITSM_ENV", "development")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ["CMDB_EXTRACTION_ENABLED"] = "false"  # the bench calls extraction itself
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["EMBEDDED_DATABASE_NAME"] = database
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE cmdb_configurationitem, cmdb_itemkey, cmdb_configurationitemevent, cmdb_itemrelationevent, "
            "cmdb_ticketitemevent, tickets_ticket, procrastinate_jobs CASCADE"
        )


def quality() -> None:
    from cmdb import actions, evaluation, extraction
    from cmdb.tests.extraction_cases import CASES, ITEMS

    for values in ITEMS:
        actions.do_create_item(actor=None, **values)

    def run(text: str) -> tuple[set[str], set[str]]:
        found = extraction.extract({"description": text})
        return found.item_names(), found.host_names()

    result = evaluation.evaluate(CASES, run)
    print("quality:", result.summary())
    for mistake in result.mistakes:
        print("  -", mistake)


def store(batch: list) -> None:
    """Items and their match keys in two INSERTs (what ``save()`` does one item at a time)."""
    from cmdb.models import ConfigurationItem, ItemKey

    items = ConfigurationItem.objects.bulk_create(batch)
    ItemKey.objects.bulk_create(
        ItemKey(item=item, key=key) for item in items for key in item.compute_match_keys()
    )


def load(total: int) -> None:
    from cmdb.models import ConfigurationItem

    words = ["billing", "ledger", "catalog", "search", "orders", "stock", "hr", "crm", "wiki", "chat"]
    batch, began = [], time.perf_counter()
    for n in range(total):
        kind = n % 4
        if kind in (0, 1):
            name = f"srv-app-{n:05d}"
            item = ConfigurationItem(
                name=name,
                type="server",
                hostnames=[f"{name}.dc1.acme.example"],
                ip_addresses=[f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"],
            )
        elif kind == 2:
            name = f"{words[n % 10].title()} API {n}"
            item = ConfigurationItem(name=name, type="service", aliases=[f"{words[n % 10]}-api-{n}"])
        else:
            name = f"{words[n % 10].title()} {words[(n // 10) % 10].title()} {n}"
            item = ConfigurationItem(name=name, type="application", hostnames=[f"app{n}.acme.example"])
        batch.append(item)
        if len(batch) == 2000:
            store(batch)
            batch = []
    store(batch)
    print(f"loaded {total:,} items in {time.perf_counter() - began:.1f} s")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def speed(repeat: int) -> None:
    from django.db import connection

    from cmdb import extraction
    from cmdb.actions import do_extract_ticket_items
    from cmdb.models import ConfigurationItem, ItemSuggestion
    from itsm.models import Role, User
    from tickets.actions import do_create_ticket

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cmdb_configurationitem")
        cursor.execute("ANALYZE cmdb_itemkey")
    requester, _ = User.objects.get_or_create(email="bench@cmdb-bench.example", defaults={"role": Role.USER})
    print(f"items in the table: {ConfigurationItem.objects.count():,}")
    for label, text in (("short ticket", SHORT), ("long ticket with logs", LONG)):
        fields = {"title": "Payment page down", "description": text}
        mentions = extraction.find_mentions(fields)
        reading, matching = [], []
        for _ in range(repeat):
            began = time.perf_counter()
            mentions = extraction.find_mentions(fields)
            middle = time.perf_counter()
            found = extraction.match(mentions)
            reading.append(middle - began)
            matching.append(time.perf_counter() - middle)
        print(
            f"{label} ({len(text):,} characters, {len(mentions.keys):,} keys asked): "
            f"{len(found.items)} items, {len(found.unknown_hosts)} unknown hosts"
        )
        print(f"  read the text:  {percentiles(reading)}")
        print(f"  match (2 queries): {percentiles(matching)}")
        ticket = do_create_ticket(actor=requester, title=fields["title"], description=text)
        whole = []
        for _ in range(max(10, repeat // 10)):
            ItemSuggestion.objects.filter(ticket=ticket).delete()
            began = time.perf_counter()
            do_extract_ticket_items(ticket)
            whole.append(time.perf_counter() - began)
        print(f"  whole extraction with writes: {percentiles(whole)}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database", default="itsm_cmdb_bench")
    options = parser.parse_args()
    configure(options.database)
    reset()
    quality()
    load(options.items)
    speed(options.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
