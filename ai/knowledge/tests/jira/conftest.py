"""Fixtures of the Jira knowledge tests: the fake Jira of the integration's tests, a knowledge
project, ADF issues, the backfill command, and running the jobs the product queued."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from procrastinate.contrib.django import app

from integrations.jira.tests.conftest import (  # noqa: F401 - fixtures of the Jira tests (autouse ones too)
    _default_mappings,
    deliver,
    fake_jira,
    jira_settings,
    mappings,
    new_jobs,
    process,
)

PROJECT = "HIST"


def adf(*paragraphs: str) -> dict:
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": text}]} for text in paragraphs
        ],
    }


@pytest.fixture
def kb_project(db):
    from ai.knowledge.models import JiraKnowledgeProject

    return JiraKnowledgeProject.objects.create(key=PROJECT)


@pytest.fixture
def add_resolved(fake_jira):  # noqa: F811
    """``add_resolved(number, summary, problem, answer, internal=…)``: a resolved issue in the fake
    Jira with an ADF description, the agent's public answer and optionally an internal comment."""

    def add(
        number,
        summary,
        problem,
        answer,
        *,
        internal="",
        project=PROJECT,
        updated="2025-03-14T10:00:00.000+0000",
        resolved=True,
    ):
        key = f"{project}-{number}"
        fake_jira.add_issue(
            key,
            issue_id=str(70000 + number),
            summary=summary,
            updated=updated,
            status="Resolved" if resolved else "In Progress",
            category="done" if resolved else "indeterminate",
            description=adf(problem),
            resolution={"name": "Done", "id": "10000"} if resolved else None,
            resolutiondate="2025-03-14T09:30:00.000+0000" if resolved else None,
        )
        if internal:
            fake_jira.add_comment(key, adf(internal), public=False, created="2025-03-14T09:10:00.000+0000")
        if answer:
            fake_jira.add_comment(key, adf(answer), public=True, created="2025-03-14T09:20:00.000+0000")
        return key

    return add


@pytest.fixture
def backfill(fake_jira, minilm):  # noqa: F811
    """``backfill("--project", "HIST", …)`` runs the command; returns its output."""

    def run(*args: str) -> str:
        out = StringIO()
        call_command("jira_kb_backfill", *args, stdout=out)
        return out.getvalue()

    return run


@pytest.fixture
def run_jobs(db):
    """``run_jobs(task_name)`` runs the jobs of that task queued since the test started, the way
    a worker would (each once, then it is gone: its queueing lock is free again), and returns
    their results."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
        start = cursor.fetchone()[0]
    done: set[int] = set()

    def run(task_name: str) -> list:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, args FROM procrastinate_jobs WHERE id > %s AND task_name = %s AND status = 'todo' "
                "ORDER BY id",
                [start, task_name],
            )
            rows = [(job_id, args) for job_id, args in cursor.fetchall() if job_id not in done]
        results = []
        for job_id, args in rows:
            done.add(job_id)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM procrastinate_jobs WHERE id = %s", [job_id])
            results.append(app.tasks[task_name](**(json.loads(args) if isinstance(args, str) else args)))
        return results

    return run


@pytest.fixture
def index_jira(minilm):
    """Brings the chunks of the stored Jira issues up to date (what ``index_source`` jobs do)."""
    from ai.knowledge.indexing import do_index_sources
    from ai.knowledge.models import JiraIssue, SourceType

    def run():
        return do_index_sources(
            [(SourceType.JIRA_ISSUE, pk) for pk in JiraIssue.objects.values_list("pk", flat=True)]
        )

    return run
