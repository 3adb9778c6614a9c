"""Fixtures of the Jira tests: settings, a fake Jira on 127.0.0.1, signed deliveries."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json

import pytest

from integrations.jira.tests.fakejira import EMAIL, TOKEN, FakeJira, fixture

SECRET = "s3cr3t-webhook"


@pytest.fixture(autouse=True)
def jira_settings(settings):
    """Inbound only (secret + project key), fast client retries; tests add the base URL."""
    settings.JIRA_BASE_URL = ""
    settings.JIRA_EMAIL = ""
    settings.JIRA_API_TOKEN = ""
    settings.JIRA_PROJECT_KEY = ["ITSUP"]
    settings.JIRA_WEBHOOK_SECRET = SECRET
    settings.JIRA_PUSH_ENABLED = True
    settings.JIRA_TIMEOUT_SECONDS = 2.0
    settings.JIRA_MAX_RETRIES = 2
    settings.JIRA_BACKOFF_SECONDS = 0.0
    settings.JIRA_MAX_RETRY_AFTER_SECONDS = 0.0
    settings.JIRA_AUTO_RECONCILE_ENABLED = False
    settings.JIRA_SLA_SYNC_ENABLED = True
    return settings


@pytest.fixture
def fake_jira(settings):
    """A running fake Jira, with the integration configured to talk to it."""
    jira = FakeJira().start()
    settings.JIRA_BASE_URL = jira.url
    settings.JIRA_EMAIL = EMAIL
    settings.JIRA_API_TOKEN = TOKEN
    yield jira
    jira.stop()


def sign(body: bytes, secret: str = SECRET, method: str = "sha256") -> str:
    return f"{method}=" + hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()


def payload(name: str, **changes) -> dict:
    """A contract delivery, with ``issue.fields`` entries replaced by ``changes``."""
    data = copy.deepcopy(fixture(name))
    data["issue"]["fields"].update(changes)
    return data


@pytest.fixture
def deliver(client):
    """``deliver(payload, identifier=…)`` posts a signed delivery as Jira does; returns the response."""
    counter = {"n": 0}

    def post(
        data: dict | bytes,
        *,
        identifier: str | None = None,
        headers: dict | None = None,
        path: str = "/api/integrations/jira/webhook/",
        signed: bool = True,
    ):
        counter["n"] += 1
        body = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
        extra = {
            "HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER": identifier or f"delivery-{counter['n']}",
            "HTTP_X_ATLASSIAN_WEBHOOK_FLOW": "Primary",
        }
        if signed:
            extra["HTTP_X_HUB_SIGNATURE"] = sign(body)
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        return client.post(path, data=body, content_type="application/json", **extra)

    return post


@pytest.fixture
def process():
    """Runs the stored deliveries the way the worker does (``process_receipt``), oldest first."""
    from integrations.jira.inbound import process_receipt
    from integrations.jira.models import WebhookReceipt

    def run(fetch_issue=None):
        receipts = WebhookReceipt.objects.pending().order_by("pk")
        return [process_receipt(receipt, fetch_issue=fetch_issue) for receipt in receipts]

    return run


@pytest.fixture(autouse=True)
def _default_mappings(request):
    """Database tests get the default mappings even on a reused database that a transactional
    test flushed (flushing removes the rows migration 0002 created)."""
    if request.node.get_closest_marker("django_db") is not None:
        request.getfixturevalue("mappings")


@pytest.fixture
def new_jobs(db):
    """``new_jobs(task, status=…, ticket=…)`` counts jobs deferred since the test started
    (procrastinate's table is not flushed between transactional tests)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
        start = cursor.fetchone()[0]

    def count(task: str, *, status: str | None = None, ticket=None) -> int:
        query = "SELECT count(*) FROM procrastinate_jobs WHERE id > %s AND task_name = %s"
        params = [start, task]
        if ticket is not None:
            query += " AND args->>'ticket_id' = %s"
            params.append(str(ticket.pk))
        if status:
            query += " AND status = %s"
            params.append(status)
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchone()[0]

    return count


@pytest.fixture
def mappings(db):
    """The default mappings of migration 0002 (transactional tests flush migration data)."""
    from importlib import import_module

    from django.apps import apps

    import_module("integrations.jira.migrations.0002_default_mappings").create_defaults(apps, None)
    from integrations.jira.mapper import Mappings

    return Mappings.load()
