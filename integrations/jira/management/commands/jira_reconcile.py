"""python manage.py jira_reconcile [--since DATE | --days N]: repair what webhooks missed."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from integrations.jira.api import parse_since
from integrations.jira.models import ReconcileTrigger
from integrations.jira.reconcile import ReconcileError, run_reconcile


class Command(BaseCommand):
    help = (
        "Pull the Jira issues updated since a date (default: JIRA_AUTO_RECONCILE_LOOKBACK_DAYS ago) and "
        "repair their tickets; prints created/updated/unchanged counts and the drift found."
    )

    def add_arguments(self, parser):
        window = parser.add_mutually_exclusive_group()
        window.add_argument("--since", help="YYYY-MM-DD (midnight UTC) or an ISO 8601 datetime")
        window.add_argument("--days", type=int, help="look back this many days")

    def handle(self, *args, since: str | None = None, days: int | None = None, **options):
        if since is not None:
            try:
                moment = parse_since(since)
            except ValidationError as error:
                raise CommandError(f"Invalid --since: {' '.join(str(d) for d in error.detail)}") from error
        else:
            if days is not None and days < 1:
                raise CommandError("--days must be at least 1.")
            moment = timezone.now() - timedelta(days=days or settings.JIRA_AUTO_RECONCILE_LOOKBACK_DAYS)
        try:
            run = run_reconcile(since=moment, trigger=ReconcileTrigger.COMMAND)
        except ReconcileError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Reconciled Jira issues updated since {moment:%Y-%m-%d %H:%M} UTC in {run.pages} page(s): "
            f"{run.seen} seen, {run.created} created, {run.updated} updated, {run.unchanged} unchanged, "
            f"{run.skipped} skipped, {len(run.drift)} drift."
        )
        for item in run.drift:
            fields = ", ".join(item.get("fields", [])) or "missing ticket"
            self.stdout.write(f"  {item['issue']} → {item.get('ticket') or '-'}: {fields}")
        if not run.ok:
            raise CommandError(f"Reconcile stopped: {run.error}")
