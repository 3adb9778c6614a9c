"""Import or update configuration items from a CSV or JSON file (see ``cmdb/importer.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cmdb import importer
from itsm.models import User


class Command(BaseCommand):
    help = (
        "Create or update configuration items (by name and type) and their relations from a CSV or "
        "JSON file. All or nothing: any problem refuses the whole file, listed by row."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV or JSON file; - reads standard input")
        parser.add_argument("--format", choices=importer.FORMATS, help="default: from the file extension")
        parser.add_argument("--dry-run", action="store_true", help="check and count, change nothing")
        parser.add_argument("--actor", default="", help="email of the user recorded in the history")

    def handle(self, *args, file: str, format: str | None, dry_run: bool, actor: str, **options):
        file_format = format or Path(file).suffix.lower().lstrip(".")
        if file_format not in importer.FORMATS:
            raise CommandError("Say --format csv or --format json (the file name does not tell).")
        user = None
        if actor:
            user = User.objects.filter(email__iexact=actor, is_active=True).first()
            if user is None:
                raise CommandError(f"No active user {actor}.")
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from error
        try:
            report = importer.do_import_items(data, format=file_format, actor=user, dry_run=dry_run)
        except importer.ImportFailed as failure:
            for error in failure.errors:
                self.stderr.write(str(error))
            raise CommandError(f"Nothing was imported: {len(failure.errors)} problem(s).") from failure
        prefix = "Dry run, nothing changed: would have " if dry_run else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"{prefix}{report.rows} items: {report.created} created, {report.updated} updated, "
                f"{report.unchanged} unchanged; {report.relations_created} relations added."
            )
        )
