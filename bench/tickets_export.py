"""Export of a large ticket list: time and peak Python memory of the worker's build.

    .venv/bin/python bench/tickets_list.py --rows 100000      # load the tickets first (once)
    .venv/bin/python bench/tickets_export.py                  # CSV and JSON of every visible ticket
    .venv/bin/python bench/tickets_export.py --limit 100000 --formats csv

Runs ``tickets.actions.do_build_export`` in this process exactly as the worker task does and
reports rows, seconds, rows per second, file size and the peak of Python allocations
(tracemalloc): rows stream from a server-side cursor, so the peak stays flat whatever the row
count.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="itsm_bench")
    parser.add_argument("--formats", default="csv,json")
    parser.add_argument(
        "--limit", type=int, default=0, help="export at most this many tickets (created range)"
    )
    args = parser.parse_args()

    from tickets_list import configure

    configure(args.database)

    from django.conf import settings
    from django.core.files.storage import default_storage

    from itsm.models import User
    from tickets import actions
    from tickets.models import ExportJob, Ticket

    admin, _ = User.objects.get_or_create(email="bench-admin@bench.example", defaults={"role": "admin"})
    filters: dict[str, list[str]] = {}
    if args.limit:
        # The created date of the N-th newest ticket bounds the export to about N rows.
        boundary = Ticket.objects.order_by("-created_at").values_list("created_at", flat=True)[args.limit - 1]
        filters = {"created_after": [boundary.date().isoformat()]}
    print(f"{Ticket.objects.count():,} tickets in {args.database}; media under {settings.MEDIA_ROOT}\n")
    print(f"{'format':<8} {'rows':>10} {'seconds':>9} {'rows/s':>9} {'file MB':>9} {'peak Python MB':>15}")
    for export_format in args.formats.split(","):
        job = actions.do_request_export(actor=admin, format=export_format, filters=filters)
        tracemalloc.start()
        began = time.perf_counter()
        job = actions.do_build_export(job.pk)
        seconds = time.perf_counter() - began
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = default_storage.size(job.file.name) / 1e6
        print(
            f"{export_format:<8} {job.row_count:>10,} {seconds:>9.1f} {job.row_count / seconds:>9,.0f} "
            f"{size:>9.1f} {peak / 1e6:>15.1f}",
            flush=True,
        )
        default_storage.delete(job.file.name)
        ExportJob.objects.filter(pk=job.pk).delete()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
