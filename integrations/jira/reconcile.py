"""Reconcile: pull the issues updated in a window and repair what webhooks missed.

Pages through ``POST /rest/api/3/search/jql`` with ``nextPageToken`` and applies each issue
(and its comments) through the same idempotent path as webhooks. Counts say what happened:
``created`` (an issue we had no ticket for), ``updated`` (a ticket that had drifted from its
issue; listed in ``drift`` with the fields repaired), ``unchanged``, ``skipped`` (deleted
issues, out-of-window). Local changes still waiting to be pushed are re-queued too.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.jira import client as jira_client
from integrations.jira.inbound import accepted_projects, apply_comment, apply_issue
from integrations.jira.mapper import IssueView, Mappings
from integrations.jira.models import ReconcileRun
from integrations.jira.queueing import sweep_waiting
from integrations.jira.transport import JiraError

logger = logging.getLogger(__name__)


class ReconcileError(Exception):
    """Reconcile cannot run (not configured, no project)."""


def build_jql(projects: list[str], since: datetime, now: datetime | None = None) -> str:
    """Issues of our projects updated since ``since``, oldest first.

    JQL dates are read in the Jira user's time zone; a relative ``-Nm`` is not, so the window
    is expressed in minutes before now (rounded up: never narrower than asked).
    """
    now = now or timezone.now()
    minutes = max(1, math.ceil((now - since).total_seconds() / 60))
    keys = ", ".join(f'"{key}"' for key in sorted(projects))
    return f'project in ({keys}) AND updated >= "-{minutes}m" ORDER BY updated ASC'


def run_reconcile(
    *,
    since: datetime,
    trigger: str,
    client: jira_client.JiraClient | None = None,
    page_size: int | None = None,
) -> ReconcileRun:
    """Run (and record) one reconcile; Jira errors end the run with ``ok=False`` and the error."""
    if since.tzinfo is None:
        raise ReconcileError(_("since must be an aware datetime."))
    if client is None and not jira_client.is_configured():
        raise ReconcileError(_("Jira is not configured: set JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN."))
    projects = sorted(accepted_projects())
    if not projects:
        raise ReconcileError(_("No Jira project to reconcile: set JIRA_PROJECT_KEY."))
    run = ReconcileRun.objects.create(trigger=trigger, since=since)
    client = client or jira_client.JiraClient()
    Mappings.load()
    jql = build_jql(projects, since)
    try:
        for page in client.search(jql, max_results=page_size or settings.JIRA_RECONCILE_PAGE_SIZE):
            run.pages += 1
            for issue in page.issues:
                reconcile_issue(run, issue)
            run.save(update_fields=["pages", "seen", "created", "updated", "unchanged", "skipped", "drift"])
    except JiraError as error:
        run.ok, run.error = False, str(error)[:2000]
        logger.warning("Jira reconcile stopped: %s", error)
    else:
        run.ok = True
        sweep_waiting()
    run.finished_at = timezone.now()
    run.save()
    return run


def reconcile_issue(run: ReconcileRun, issue: dict) -> None:
    run.seen += 1
    try:
        view = IssueView.parse(issue)
    except ValueError as error:
        run.skipped += 1
        logger.info("Reconcile skipped an issue: %s", error)
        return
    outcome = apply_issue(issue, event="reconcile")
    repaired = list(outcome.changes)
    for comment in view.comments:
        comment_outcome = apply_comment("comment_updated", comment, issue)
        if comment_outcome.result == "updated":
            repaired += comment_outcome.changes
    ticket = outcome.ticket
    if outcome.result == "created":
        run.created += 1
        run.drift.append({"issue": view.key, "ticket": ticket.number if ticket else None, "kind": "missing"})
    elif outcome.result in ("stale", "ignored"):
        run.skipped += 1
    elif repaired:
        run.updated += 1
        run.drift.append(
            {
                "issue": view.key,
                "ticket": ticket.number if ticket else None,
                "kind": "changed",
                "fields": repaired,
            }
        )
    else:
        run.unchanged += 1
