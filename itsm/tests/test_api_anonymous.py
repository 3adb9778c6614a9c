"""Every API endpoint needs a signed-in caller, except the few documented as public.

The endpoints are read from the URLconf (nothing to keep up to date by hand): a new view that
forgets its authentication fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

# Documented public endpoints (docs/security.md), by URL name.
PUBLIC = {
    # The OpenAPI schema and its Swagger UI describe the API; they hold no data.
    "api-schema",
    "api-docs",
    # Jira's webhook has no user: each delivery is checked against its signature or shared
    # secret instead (an anonymous call without one is refused, tested below).
    "jira-webhook",
    "jira-upsert",
}
METHODS = ["get", "post", "put", "patch", "delete", "options"]
GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def sample_path(regex: str) -> str:
    """A concrete path for a URL regex: every parameter becomes 1 (ids and numbers alike)."""
    path = GROUP.sub("1", regex)
    for token in ("^", "$", "\\Z", "\\"):
        path = path.replace(token, "")
    return path


def api_endpoints() -> Iterator[tuple[str, str]]:
    """(URL name, a concrete path) for every pattern under /api/."""

    def walk(patterns, prefix: str) -> Iterator[tuple[str, str]]:
        for pattern in patterns:
            regex = prefix + pattern.pattern.regex.pattern.lstrip("^").replace("\\Z", "").rstrip("$")
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, regex)
            elif isinstance(pattern, URLPattern) and regex.startswith("api/"):
                yield pattern.name or regex, "/" + sample_path(regex)

    return walk(get_resolver().url_patterns, "")


ENDPOINTS = sorted(set(api_endpoints()))


def test_the_endpoints_are_found():
    names = {name for name, _path in ENDPOINTS}
    assert {"ticket-list", "ticket-detail", "problem-list", "problem-detail", "jira-webhook"} <= names
    assert len(ENDPOINTS) > 40


@pytest.mark.parametrize(
    "path", [pytest.param(path, id=name) for name, path in ENDPOINTS if name not in PUBLIC]
)
def test_anonymous_callers_are_refused_with_json(path):
    client = APIClient()
    for method in METHODS:
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code in (401, 403), (method, path, response.status_code)
        assert response["Content-Type"].startswith("application/json"), (method, path)
        assert "detail" in response.json()


def test_the_public_endpoints_are_the_documented_ones(settings):
    settings.JIRA_WEBHOOK_SECRET = "a-shared-secret-of-the-jira-admin"
    client = APIClient()
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    for path in ("/api/integrations/jira/webhook/", "/api/integrations/jira/upsert/"):
        # No signature, no shared secret: refused, and nothing about the tickets said.
        response = client.post(path, {"webhookEvent": "jira:issue_created"}, format="json")
        assert response.status_code in (401, 403)
    assert {name for name, _path in ENDPOINTS} >= PUBLIC
