from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from itsm.backups import BackupError, restore


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup` into an empty database and file store, after "
        "checking every file against the manifest (docs/deploy.md#backups)."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("directory", type=Path, help="a directory made by `manage.py backup`")

    def handle(self, *args, directory: Path, **options):  # type: ignore[no-untyped-def]
        try:
            summary = restore(directory)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Restored {summary.tables} tables ({summary.rows} rows) and {summary.files} files "
            f"({summary.bytes} bytes) from {directory}."
        )
