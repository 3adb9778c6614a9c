from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from itsm.embedded_db import stop_server


class Command(BaseCommand):
    help = "Status or stop of the embedded PostgreSQL server (data under var/pgdata)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop"])

    def handle(self, *args, action: str, **options):
        if not settings.EMBEDDED_DATABASE:
            raise CommandError("DATABASE_URL is set: no embedded server is in use.")
        if action == "stop":
            stopped = stop_server(settings.EMBEDDED_DATA_DIR)
            self.stdout.write("stopped" if stopped else "not running")
        else:
            database = settings.DATABASES["default"]
            self.stdout.write(f"running; data in {settings.EMBEDDED_DATA_DIR}, socket in {database['HOST']}")
