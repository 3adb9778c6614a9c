"""Replay recorded copilot runs against today's data and say how many answers changed."""

from __future__ import annotations

from datetime import date, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ai.copilot.actions import do_replay_run
from ai.copilot.models import CopilotRun
from itsm.models import User


class Command(BaseCommand):
    help = "Replay copilot runs asked since a date (their plan, or their question through --planner)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--since", required=True, help="A date, YYYY-MM-DD (local time).")
        parser.add_argument("--planner", choices=["local", "llm"], default=None)
        parser.add_argument("--user", default="", help="Only the runs of this e-mail.")
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        try:
            since = date.fromisoformat(options["since"])
        except ValueError as error:
            raise CommandError(f"--since: {options['since']!r} is not a date (YYYY-MM-DD).") from error
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        start = timezone.make_aware(datetime.combine(since, time.min))
        runs = CopilotRun.objects.originals().created_since(start).select_related("user", "ticket")
        if options["user"]:
            if not User.objects.filter(email__iexact=options["user"]).exists():
                raise CommandError(f"--user: no user {options['user']!r}.")
            runs = runs.filter(user__email__iexact=options["user"])
        runs = list(runs.order_by("created_at", "id")[: options["limit"]])
        changed = 0
        for run in runs:
            # Replayed as its asker: the admin running the command sees what they were shown.
            replay = do_replay_run(run, actor=run.user, planner=options["planner"])
            if replay.diff.get("answer_changed") or replay.diff.get("status_changed"):
                changed += 1
                self.stdout.write(f"run {run.pk} → {replay.pk} changed: {run.question[:80]!r}")
        self.stdout.write(f"{len(runs)} runs replayed, {changed} answers changed.")
