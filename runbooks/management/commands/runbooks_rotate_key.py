"""Re-encrypt every stored connection credential with the first key of RUNBOOKS_SECRET_KEYS.

Rotation: put the new key first in RUNBOOKS_SECRET_KEYS (keep the old one after it), run this
command, then remove the old key. Idempotent: running it twice changes nothing more.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from itsm.models import AutomationEvent
from runbooks import crypto
from runbooks.models import InfrastructureConnection


class Command(BaseCommand):
    help = "Re-encrypt connection credentials with the newest key of RUNBOOKS_SECRET_KEYS."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every credential decrypts; write nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):  # type: ignore[no-untyped-def]
        rotated, unreadable = 0, []
        with transaction.atomic():
            for connection in InfrastructureConnection.objects.select_for_update().exclude(
                secret_ciphertext=""
            ):
                try:
                    token = crypto.rotate(connection.secret_ciphertext)
                except crypto.SecretUnreadable:
                    unreadable.append(connection.name)
                    continue
                if not dry_run:
                    InfrastructureConnection.objects.filter(pk=connection.pk).update(secret_ciphertext=token)
                rotated += 1
            if unreadable:
                # All or nothing: a half-rotated set would leave some secrets on a key about to be removed.
                transaction.set_rollback(True)
                raise CommandError(
                    "These connections' credentials cannot be decrypted with RUNBOOKS_SECRET_KEYS "
                    f"(nothing was rotated): {', '.join(unreadable)}"
                )
            if not dry_run and rotated:
                AutomationEvent.objects.record(
                    actor="system:runbooks",
                    action="runbooks.credentials_rotated",
                    subject=("runbook_connections", "all"),
                    after={"connections": rotated},
                )
        verb = "would be re-encrypted" if dry_run else "re-encrypted"
        self.stdout.write(f"{rotated} credential(s) {verb} with the newest key.")
