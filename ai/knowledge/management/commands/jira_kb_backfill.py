"""python manage.py jira_kb_backfill [--project KEY] [--since DATE] [--resume]: load the issues of
the Jira knowledge projects into the knowledge index, with a progress bar and a summary.

Resumable: the position is saved on the project after each page, so ``--resume`` continues an
interrupted run (Jira down, a rate limit longer than ``--max-wait``, the embeddings provider
down). Bad input (an unknown project, a bad date) is refused before anything is read or written.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.exceptions import ValidationError

from ai.knowledge.indexing import embedding_model_label
from ai.knowledge.jira.sync import SyncError, SyncReport, knowledge_project, run_backfill
from ai.knowledge.models import JiraKnowledgeProject
from ai.providers import ProviderUnavailable
from integrations.jira import client as jira_client
from integrations.jira.api import parse_since
from integrations.jira.transport import JiraError, Transport

# How the command waits for Jira (a module attribute: tests replace it to keep the clock still).
pause = time.sleep
BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Load the issues of the Jira knowledge projects (admin: Jira knowledge projects) into the "
        "knowledge index: text from ADF, comments (internal ones kept for agents), embeddings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="one knowledge project key (default: every enabled one)")
        parser.add_argument(
            "--since", help="only issues updated since: YYYY-MM-DD (midnight UTC) or an ISO 8601 datetime"
        )
        parser.add_argument(
            "--resume", action="store_true", help="continue an interrupted run from its saved position"
        )
        parser.add_argument(
            "--page-size",
            type=int,
            default=0,
            help="issues per search page, 1-100 (default JIRA_KB_PAGE_SIZE)",
        )
        parser.add_argument(
            "--max-wait",
            type=float,
            default=900.0,
            help="longest Retry-After (seconds) to wait for on a rate limit before stopping (default 900)",
        )

    def handle(self, *args: object, **options: object) -> None:
        projects, since, page_size = self.check_input(options)
        try:
            model = embedding_model_label()
        except ProviderUnavailable as error:
            raise CommandError(f"Embeddings provider misconfigured: {error}") from error
        transport = Transport.from_settings(
            sleep=self.wait,
            max_retry_after=max(float(options["max_wait"]), settings.JIRA_MAX_RETRY_AFTER_SECONDS),
        )
        client = jira_client.JiraClient(transport)
        self.stdout.write(f"Jira {settings.JIRA_BASE_URL}, embeddings {model}, {page_size} issues a page")
        for project in projects:
            self.backfill(
                project, client=client, since=since, resume=bool(options["resume"]), page_size=page_size
            )

    def check_input(self, options: dict) -> tuple[list[JiraKnowledgeProject], object, int]:
        if not jira_client.is_configured():
            raise CommandError("Jira is not configured: set JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN.")
        since = None
        if options.get("since") is not None:
            if options.get("resume"):
                raise CommandError(
                    "--since cannot be combined with --resume: the saved position has its window."
                )
            try:
                since = parse_since(str(options["since"]))
            except ValidationError as error:
                raise CommandError(f"Invalid --since: {' '.join(str(d) for d in error.detail)}") from error
        page_size = int(options.get("page_size") or settings.JIRA_KB_PAGE_SIZE)
        if not 1 <= page_size <= 100:
            raise CommandError("--page-size must be from 1 to 100.")
        if float(options.get("max_wait") or 0) < 0:
            raise CommandError("--max-wait cannot be negative.")
        if options.get("project"):
            try:
                return [knowledge_project(str(options["project"]))], since, page_size
            except SyncError as error:
                raise CommandError(str(error)) from error
        projects = list(JiraKnowledgeProject.objects.enabled())
        if not projects:
            raise CommandError(
                "No Jira knowledge project is enabled: add one in the admin (Knowledge → Jira knowledge projects)."
            )
        return projects, since, page_size

    def wait(self, seconds: float) -> None:
        self.stdout.write(f"\nJira asked us to wait: retrying in {seconds:.0f}s")
        pause(seconds)

    def backfill(
        self,
        project: JiraKnowledgeProject,
        *,
        client: jira_client.JiraClient,
        since: object,
        resume: bool,
        page_size: int,
    ) -> None:
        if resume and not project.has_cursor:
            self.stdout.write(f"{project.key}: no interrupted run to resume; starting from the beginning.")
        started = time.monotonic()
        tty = self.stdout.isatty()

        def progress(report: SyncReport) -> None:
            line = self.progress_line(report, time.monotonic() - started)
            self.stdout.write(f"\r{line}" if tty else line, ending="" if tty else "\n")
            self.stdout.flush()

        try:
            report = run_backfill(
                project, client=client, since=since, resume=resume, page_size=page_size, progress=progress
            )
        except SyncError as error:
            raise CommandError(str(error)) from error
        except (JiraError, ProviderUnavailable) as error:
            project.refresh_from_db()
            raise CommandError(
                f"{project.key}: stopped after {project.cursor_done} issues: {error}. "
                "What was read is kept: run the command again with --resume to continue."
            ) from error
        if tty:
            self.stdout.write("")
        self.summary(report, time.monotonic() - started)

    @staticmethod
    def progress_line(report: SyncReport, elapsed: float) -> str:
        rate = report.read / elapsed if elapsed > 0 else 0.0
        if report.total:
            share = min(1.0, report.done / report.total)
            filled = round(share * BAR_WIDTH)
            eta = (report.total - report.done) / rate if rate else 0.0
            return (
                f"{report.project} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {report.done}/{report.total} "
                f"({share:.0%}) {rate:.1f} issues/s, ETA {max(0.0, eta):.0f}s"
            )
        return f"{report.project} {report.done} issues, {rate:.1f} issues/s"

    def summary(self, report: SyncReport, elapsed: float) -> None:
        rate = report.read / elapsed if elapsed > 0 else 0.0
        resumed = f" (resumed after {report.offset})" if report.resumed else ""
        text = (
            f"{report.project}: {report.read} issues read{resumed} in {report.pages} page(s), "
            f"{report.written} written, {report.chunks} chunks embedded, {report.skipped} skipped, "
            f"{report.failed} failed; {elapsed:.1f}s, {rate:.1f} issues/s."
        )
        self.stdout.write(self.style.WARNING(text) if report.failed else self.style.SUCCESS(text))
        for failure in report.failures:
            self.stdout.write(f"  failed {failure}")
