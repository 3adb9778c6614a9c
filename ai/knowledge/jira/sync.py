"""Reading knowledge projects from Jira: the backfill and the periodic reconcile.

Both page through ``POST /rest/api/3/search/jql`` (``nextPageToken`` pagination) with the
fields the index needs, complete the comments of long threads (``GET …/comment``), store each
issue (``store.do_store_issue``) and embed the page's issues in one batch
(``do_index_sources``) before the next page is read.

- The backfill keeps a cursor on its project (the JQL, the next page's token, the ``updated``
  of the last issue done), saved after each page: ``resume`` continues from there, and if Jira
  no longer accepts the token (it expires after 7 days) it searches again from that
  ``updated``. Issues already stored are not embedded again unless their text changed.
- The reconcile reads, per project loaded once, what was updated since ``synced_until`` (a few
  minutes of overlap), then lists the project's issue ids (ids only, up to 5000 a page) to
  forget issues Jira no longer has, in case their deletion webhook was missed.

Jira's rate limits are honoured by the transport (``Retry-After`` on 429 and 5xx); what it
cannot wait for in-process surfaces as ``JiraUnavailable`` with ``retry_after``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from ai.knowledge.indexing import do_index_sources
from ai.knowledge.jira.store import KNOWLEDGE_FIELDS, do_forget_issue, do_store_issue
from ai.knowledge.models import JiraIssue, JiraKnowledgeProject, SourceType
from integrations.jira import client as jira_client
from integrations.jira.client import JiraClient
from integrations.jira.mapper import parse_jira_datetime
from integrations.jira.transport import JiraBadRequest, JiraError

logger = logging.getLogger(__name__)

# The reconcile reads a little before its last run's start: Jira's search is eventually consistent.
RECONCILE_OVERLAP = timedelta(minutes=5)
# An issue stored this recently is never forgotten by the prune (the id list may lag behind).
PRUNE_GRACE = timedelta(hours=1)
MAX_FAILURES_LISTED = 20


class SyncError(Exception):
    """The sync cannot run as asked (not configured, unknown project, bad window)."""


@dataclass
class SyncReport:
    project: str
    total: int | None = None  # Jira's approximate count of the issues to read
    offset: int = 0  # issues an interrupted run read before this one resumed it
    pages: int = 0
    read: int = 0
    written: int = 0  # issues created or changed
    chunks: int = 0  # passages embedded
    skipped: int = 0  # unchanged, older than held, or deleted
    failed: int = 0
    removed: int = 0  # forgotten by the reconcile's prune
    resumed: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.offset + self.read

    def summary(self) -> dict[str, object]:
        return {
            "project": self.project,
            "pages": self.pages,
            "read": self.read,
            "written": self.written,
            "chunks": self.chunks,
            "skipped": self.skipped,
            "failed": self.failed,
            "removed": self.removed,
            "failures": self.failures,
        }

    def fail(self, key: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_LISTED:
            self.failures.append(f"{key}: {reason}")


Progress = Callable[[SyncReport], None]


def build_jql(project_key: str, since: datetime | None = None, now: datetime | None = None) -> str:
    """A project's issues (updated since ``since``), oldest update first, ties by id.

    JQL dates are read in the Jira user's time zone; a relative ``-Nm`` is not, so a window is
    expressed in minutes before now (rounded up: never narrower than asked).
    """
    jql = f'project = "{project_key}"'
    if since is not None:
        now = now or timezone.now()
        minutes = max(1, math.ceil((now - since).total_seconds() / 60))
        jql += f' AND updated >= "-{minutes}m"'
    return jql + " ORDER BY updated ASC, id ASC"


def knowledge_project(key: str) -> JiraKnowledgeProject:
    key = key.strip().upper()
    project = JiraKnowledgeProject.objects.filter(key=key).first()
    if project is None or not project.enabled:
        known = ", ".join(JiraKnowledgeProject.objects.enabled().values_list("key", flat=True)) or "none"
        raise SyncError(
            _("%(key)s is not an enabled Jira knowledge project (configured: %(known)s).")
            % {"key": key, "known": known}
        )
    return project


def complete_comments(client: JiraClient, issue: dict) -> list[dict] | None:
    """The issue's whole comment list: the embedded one, or every page of it when it was cut."""
    embedded = (issue.get("fields") or {}).get("comment")
    if not isinstance(embedded, dict):
        return None
    comments = [comment for comment in embedded.get("comments") or [] if isinstance(comment, dict)]
    total = embedded.get("total")
    if isinstance(total, int) and total > len(comments):
        comments = client.get_comments(str(issue.get("key") or issue.get("id")))
    return comments


def store_page(client: JiraClient, issues: list[dict], report: SyncReport) -> list[int]:
    """Stores a page of issues; returns the ids whose chunks must be brought up to date."""
    ids: list[int] = []
    for issue in issues:
        report.read += 1
        key = str(issue.get("key") or issue.get("id") or "?")
        try:
            stored = do_store_issue(issue, comments=complete_comments(client, issue))
        except (ValueError, TypeError, ValidationError) as error:
            report.fail(key, str(error))
            logger.warning("Jira knowledge: %s could not be stored: %s", key, error)
            continue
        if stored.changed:
            report.written += 1
        else:
            report.skipped += 1
        ids.append(stored.issue_id)
    return ids


def read_pages(
    client: JiraClient,
    report: SyncReport,
    *,
    jql: str,
    token: str | None,
    page_size: int,
    progress: Progress | None,
    on_page: Callable[[str | None, list[dict]], None] | None = None,
) -> None:
    while True:
        page = client.search_page(jql, fields=KNOWLEDGE_FIELDS, max_results=page_size, next_page_token=token)
        report.pages += 1
        ids = store_page(client, page.issues, report)
        if ids:
            report.chunks += do_index_sources(
                [(SourceType.JIRA_ISSUE, issue_id) for issue_id in ids]
            ).embedded
        if on_page is not None:
            on_page(None if page.is_last else page.next_page_token, page.issues)
        if progress is not None:
            progress(report)
        if page.is_last:
            return
        if page.next_page_token == token:
            raise JiraError("Jira returned the same nextPageToken twice; stopping.")
        token = page.next_page_token


def run_backfill(
    project: JiraKnowledgeProject,
    *,
    client: JiraClient,
    since: datetime | None = None,
    resume: bool = False,
    page_size: int | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    """Read a project's issues (updated since ``since``) into the index, page by page.

    Jira errors propagate (``JiraError``) with the cursor saved after the last page done, so
    ``resume=True`` continues from there.
    """
    with one_backfill_at_a_time(project.key):
        return _run_backfill(
            project, client=client, since=since, resume=resume, page_size=page_size, progress=progress
        )


@contextmanager
def one_backfill_at_a_time(project_key: str) -> Iterator[None]:
    """A session-level advisory lock: the command and the worker never move one cursor at once."""
    name = f"kb-jira-backfill:{project_key}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [name])
        if not cursor.fetchone()[0]:
            raise SyncError(_("A backfill of %(key)s is running already.") % {"key": project_key})
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [name])


def _run_backfill(
    project: JiraKnowledgeProject,
    *,
    client: JiraClient,
    since: datetime | None,
    resume: bool,
    page_size: int | None,
    progress: Progress | None,
) -> SyncReport:
    page_size = page_size or settings.JIRA_KB_PAGE_SIZE
    report = SyncReport(project=project.key)
    now = timezone.now()
    if resume and project.has_cursor:
        report.resumed = True
        jql, token = project.cursor_jql, project.cursor_token or None
        report.offset = project.cursor_done
    else:
        jql, token = build_jql(project.key, since, now), None
        project.cursor_jql, project.cursor_token, project.cursor_updated = jql, "", None
        project.cursor_done, project.backfill_started_at, project.backfill_finished_at = 0, now, None
        project.save(
            update_fields=[
                "cursor_jql",
                "cursor_token",
                "cursor_updated",
                "cursor_done",
                "backfill_started_at",
                "backfill_finished_at",
            ]
        )
    report.total = approximate_total(client, jql)

    def save_cursor(next_token: str | None, issues: list[dict]) -> None:
        last = parse_jira_datetime((issues[-1].get("fields") or {}).get("updated")) if issues else None
        project.cursor_token = next_token or ""
        project.cursor_updated = last or project.cursor_updated
        project.cursor_done = report.done
        project.save(update_fields=["cursor_token", "cursor_updated", "cursor_done"])

    try:
        try:
            read_pages(
                client,
                report,
                jql=jql,
                token=token,
                page_size=page_size,
                progress=progress,
                on_page=save_cursor,
            )
        except JiraBadRequest:
            if not (token and project.cursor_updated):
                raise
            # The token expired (Jira keeps them 7 days): search again from the last issue done.
            logger.info(
                "Jira knowledge: %s cursor no longer valid; searching from its last update", project.key
            )
            jql = build_jql(project.key, project.cursor_updated - timedelta(minutes=1))
            project.cursor_jql, project.cursor_token = jql, ""
            project.save(update_fields=["cursor_jql", "cursor_token"])
            read_pages(
                client,
                report,
                jql=jql,
                token=None,
                page_size=page_size,
                progress=progress,
                on_page=save_cursor,
            )
    except JiraError as error:
        project.last_error = str(error)[:2000]
        project.save(update_fields=["last_error"])
        raise
    finished = timezone.now()
    start = project.backfill_started_at or now
    project.cursor_jql = project.cursor_token = ""
    project.cursor_updated, project.cursor_done = None, 0
    project.backfill_finished_at, project.last_error = finished, ""
    # What changed after the run began is the reconcile's to read.
    project.synced_until = max(filter(None, [project.synced_until, start]))
    project.save(
        update_fields=[
            "cursor_jql",
            "cursor_token",
            "cursor_updated",
            "cursor_done",
            "backfill_finished_at",
            "last_error",
            "synced_until",
        ]
    )
    return report


def approximate_total(client: JiraClient, jql: str) -> int | None:
    """For the progress bar only: a failure here must not stop the backfill."""
    count_jql = jql.split(" ORDER BY ", 1)[0]
    try:
        return client.approximate_count(count_jql)
    except JiraError as error:
        logger.info("Jira knowledge: no approximate count for %r: %s", count_jql, error)
        return None


def run_reconcile(
    project: JiraKnowledgeProject,
    *,
    client: JiraClient,
    page_size: int | None = None,
    prune: bool = True,
) -> SyncReport:
    """Read what changed in a project since its last sync, then forget issues Jira no longer has."""
    if project.synced_until is None:
        raise SyncError(_("%(key)s was never loaded: run jira_kb_backfill first.") % {"key": project.key})
    report = SyncReport(project=project.key)
    started = timezone.now()
    jql = build_jql(project.key, project.synced_until - RECONCILE_OVERLAP, started)
    try:
        read_pages(
            client,
            report,
            jql=jql,
            token=None,
            page_size=page_size or settings.JIRA_KB_PAGE_SIZE,
            progress=None,
        )
        if prune:
            report.removed = prune_missing(project, client, before=started - PRUNE_GRACE)
    except JiraError as error:
        project.last_error = str(error)[:2000]
        project.save(update_fields=["last_error"])
        raise
    project.synced_until, project.last_error = started, ""
    project.save(update_fields=["synced_until", "last_error"])
    return report


def prune_missing(project: JiraKnowledgeProject, client: JiraClient, *, before: datetime) -> int:
    """Forget the project's stored issues that Jira does not list any more (a deletion whose
    webhook was missed, or an issue moved to another project), then drop their chunks."""
    remote: set[int] = set()
    for ids in client.search_ids(f'project = "{project.key}" ORDER BY updated ASC, id ASC'):
        remote.update(int(issue_id) for issue_id in ids if issue_id.isdigit())
    stored = set(
        JiraIssue.objects.live()
        .filter(project_key=project.key, fetched_at__lt=before)
        .values_list("pk", flat=True)
    )
    gone = sorted(stored - remote)
    removed = [issue_id for issue_id in gone if do_forget_issue(issue_id)]
    if removed:
        do_index_sources([(SourceType.JIRA_ISSUE, issue_id) for issue_id in removed])
    return len(removed)


# --- in the worker --------------------------------------------------------------------------------
def reconcile_due_projects(now: datetime | None = None) -> dict[str, object]:
    """The periodic job: reconcile each loaded project whose last sync is an interval old.

    A project Jira fails for keeps its error (``last_error``, shown in the admin) and is tried
    again at the next interval; the others go on.
    """
    interval = settings.JIRA_KB_RECONCILE_INTERVAL_SECONDS
    if interval <= 0 or not jira_client.is_configured():
        return {"status": "disabled"}
    now = now or timezone.now()
    # A few seconds of slack: the periodic job runs on the minute, the last sync ended just after.
    due = JiraKnowledgeProject.objects.due_for_reconcile().filter(
        synced_until__lte=now - timedelta(seconds=interval) + timedelta(seconds=5)
    )
    outcome: dict[str, object] = {}
    client: JiraClient | None = None
    for project in due:
        client = client or JiraClient()
        try:
            report = run_reconcile(project, client=client)
        except JiraError as error:
            logger.warning("Jira knowledge: reconcile of %s stopped: %s", project.key, error)
            outcome[project.key] = f"error: {error}"
        else:
            outcome[project.key] = report.summary()
    return outcome


def backfill_in_worker(project_key: str) -> dict[str, object]:
    """The admin's "Load from Jira" in the worker: resumes an interrupted backfill, else starts one.
    Jira failures propagate so the job is retried (and resumes from its cursor)."""
    try:
        project = knowledge_project(project_key)
        return run_backfill(project, client=JiraClient(), resume=True).summary()
    except SyncError as error:
        return {"error": str(error)}
