from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from itsm.backups import BackupError, backup


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump custom format) and the stored files into DIR, with a "
        "manifest of checksums (docs/deploy.md#backups)."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("directory", type=Path, help="a new or empty directory")

    def handle(self, *args, directory: Path, **options):  # type: ignore[no-untyped-def]
        try:
            summary = backup(directory)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Backed up {summary.tables} tables ({summary.rows} rows) and {summary.files} files "
            f"({summary.bytes} bytes) into {directory}."
        )
