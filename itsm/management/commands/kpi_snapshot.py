"""Rebuild the daily KPI snapshots from the tickets and their audit trail."""

from __future__ import annotations

import sys
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from itsm import kpis
from itsm.analytics import snapshots


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from error


class Command(BaseCommand):
    help = (
        "Rebuild the daily KPI snapshots from --since to --until (default today), a chunk of days "
        "per transaction. Re-running replaces the rows; --resume skips chunks already complete at "
        "the current KPI definitions (after an interruption). A changed definition (its version "
        "bumped) is rebuilt by running this again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--until", default="", help="last day, YYYY-MM-DD (default: today)")
        parser.add_argument("--chunk-days", type=int, default=31, help="days per transaction (default 31)")
        parser.add_argument("--resume", action="store_true", help="skip chunks already complete")

    def handle(self, *args, **options):
        first = _day(options["since"])
        last = _day(options["until"]) if options["until"] else kpis.local_today()
        if last < first:
            raise CommandError(f"--until ({last}) is before --since ({first}).")
        if last > kpis.local_today():
            raise CommandError("--until cannot be in the future.")
        if options["chunk_days"] < 1:
            raise CommandError("--chunk-days must be at least 1.")
        began = time.monotonic()
        interactive = self.stdout.isatty() if hasattr(self.stdout, "isatty") else sys.stdout.isatty()

        def progress(index: int, count: int, chunk: snapshots.Chunk, written: int) -> None:
            elapsed = time.monotonic() - began
            remaining = elapsed / index * (count - index)
            filled = round(30 * index / count)
            bar = "#" * filled + "-" * (30 - filled)
            note = f"{written:,} rows" if written else "already complete"
            line = (
                f"[{bar}] {index}/{count} {chunk.first}…{chunk.last} {note}; "
                f"{elapsed:,.0f} s elapsed, ~{remaining:,.0f} s left"
            )
            if interactive:
                self.stdout.write("\r" + line.ljust(110), ending="")
                self.stdout.flush()
            else:
                self.stdout.write(line)

        total = snapshots.rebuild(
            first, last, chunk_days=options["chunk_days"], resume=options["resume"], progress=progress
        )
        if interactive:
            self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Snapshots {first} … {last}: {total:,} rows written in {time.monotonic() - began:,.1f} s."
            )
        )
