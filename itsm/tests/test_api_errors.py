"""Bad input never makes a 500, and every error under /api/ is JSON ``{"detail": …}``.

Each case is a reproduction of an input that used to fail deep in a save (NUL characters and
lone surrogates PostgreSQL cannot store, nesting that overflowed the parser's recursion) or
answered an HTML page to an API client (unknown paths, a body over the upload limit).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.test import RequestFactory

from integrations.jira.models import WebhookReceipt
from itsm import views
from tickets.models import Comment, Ticket

pytestmark = pytest.mark.django_db

TWELVE_MB = 12 * 1024 * 1024


def post_raw(client, path: str, body: str | bytes, **extra):
    return client.generic("POST", path, body, content_type="application/json", **extra)


def assert_json_error(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    detail = str(response.json()["detail"])
    for word in words:
        assert word in detail, detail
    return detail


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"title": "Printer", "tags": ["a\u0000b"]}, ("tags[0]", "NUL")),
        ({"title": "Printer", "metadata": {"source\u0000": "x"}}, ("key at metadata", "NUL")),
        ({"title": "Printer", "metadata": {"source": "x\u0000"}}, ("metadata.source", "NUL")),
        ({"title": "Printer\u0000"}, ("title", "NUL")),
    ],
    ids=["tag", "metadata-key", "metadata-value", "title"],
)
def test_nul_characters_are_refused_by_name(api_for, agent, body, words):
    response = api_for(agent).post("/api/tickets/", body, format="json")
    assert_json_error(response, 400, *words)
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        '{"title": "Printer", "metadata": {"note": "\\udfff"}}',
        '{"title": "Printer", "metadata": {"\\ud800": 1}}',
        '{"title": "Printer \\udfff"}',
        '{"title": "Printer", "description": "half an emoji \\ud83d"}',
    ],
    ids=["metadata-value", "metadata-key", "title", "description"],
)
def test_lone_surrogates_are_refused_anywhere_in_json(api_for, agent, body):
    response = post_raw(api_for(agent), "/api/tickets/", body)
    assert_json_error(response, 400, "lone surrogate")
    assert not Ticket.objects.exists()


def test_a_lone_surrogate_in_a_comment_is_refused(api_for, agent, make_ticket):
    ticket = make_ticket()
    response = post_raw(api_for(agent), f"/api/tickets/{ticket.pk}/comments/", '{"body": "ok \\udfff"}')
    assert_json_error(response, 400, "body", "lone surrogate")
    assert not Comment.objects.filter(ticket=ticket).exists()


def test_a_surrogate_pair_is_an_ordinary_character(api_for, agent):
    response = post_raw(api_for(agent), "/api/tickets/", '{"title": "Printer \\ud83d\\udda8"}')
    assert response.status_code == 201
    assert Ticket.objects.get().title == "Printer \U0001f5a8"


def test_a_nul_in_form_encoded_tags_is_refused(api_for, agent):
    response = api_for(agent).post("/api/tickets/", {"title": "Printer", "tags": "a\x00b"})
    assert response.status_code == 400
    assert "NUL" in str(response.json()["tags"])
    assert not Ticket.objects.exists()


@pytest.mark.parametrize("depth", [65, 5000])
def test_json_nested_too_deep_is_refused(api_for, agent, depth):
    body = '{"title": "Printer", "metadata": {"a": ' + "[" * depth + "]" * depth + "}}"
    assert_json_error(post_raw(api_for(agent), "/api/tickets/", body), 400, "nested more than 64 levels")
    assert not Ticket.objects.exists()


def test_nan_is_not_json(api_for, agent):
    response = post_raw(api_for(agent), "/api/tickets/", '{"title": "Printer", "metadata": {"x": NaN}}')
    assert_json_error(response, 400, "NaN")


@pytest.fixture
def signed_jira(client, settings):
    settings.JIRA_WEBHOOK_SECRET = "s3cr3t-webhook"
    settings.JIRA_PROJECT_KEY = ["ITSUP"]

    def deliver(body: bytes):
        signature = "sha256=" + hmac.new(b"s3cr3t-webhook", body, hashlib.sha256).hexdigest()
        return client.generic(
            "POST",
            "/api/integrations/jira/webhook/",
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE=signature,
            HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER="delivery-1",
        )

    return deliver


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"webhookEvent": "jira:issue_created", "issue": ' + b"[" * 5000 + b"]" * 5000 + b"}", ("nested",)),
        (b'{"webhookEvent": "jira:issue_created", "issue": {"key": "ITSUP-1\\u0000"}}', ("NUL",)),
        (b'{"webhookEvent": "jira:issue_created", "issue": {"key": "\\udfff"}}', ("lone surrogate",)),
    ],
    ids=["deep", "nul", "surrogate"],
)
def test_the_jira_webhook_refuses_json_it_could_not_store(signed_jira, body, words):
    response = signed_jira(body)
    assert response.status_code == 400
    assert all(word in response.json()["detail"] for word in words)
    assert not WebhookReceipt.objects.exists()


def test_stats_for_an_unknown_assignee_are_zero(api_for, agent, make_ticket):
    make_ticket()
    response = api_for(agent).get("/api/tickets/stats/", {"assignee": "notanemail"})
    assert response.status_code == 200
    assert response.json() == {
        "total": 0,
        "by_status": {},
        "by_priority": {},
        "by_category": [],
        "by_team": [],
    }


@pytest.mark.parametrize(
    "path", ["/api/tickets/-1/", "/api/nothing-here/", "/api/tickets/1/comments/x/", "/api/tickets/abc/"]
)
def test_unknown_api_paths_answer_json_404(api_for, agent, path):
    assert_json_error(api_for(agent).get(path), 404)


def test_wrong_methods_answer_json_405(api_for, agent):
    assert_json_error(api_for(agent).delete("/api/tickets/"), 405, "DELETE")
    assert_json_error(api_for(agent).put("/api/me/", {}, format="json"), 405, "PUT")


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_body_over_the_upload_limit_answers_json_413(api_for, agent, content_type):
    if content_type == "application/json":
        body = json.dumps({"title": "x", "description": "a" * TWELVE_MB})
    else:
        body = "title=x&description=" + "a" * TWELVE_MB
    response = api_for(agent).generic("POST", "/api/tickets/", body, content_type=content_type)
    assert_json_error(response, 413, "DATA_UPLOAD_MAX_MEMORY_SIZE")
    assert not Ticket.objects.exists()


def test_the_jira_webhook_answers_json_413_too(signed_jira):
    response = signed_jira(b'{"webhookEvent": "jira:issue_created", "x": "' + b"a" * TWELVE_MB + b'"}')
    assert_json_error(response, 413, "DATA_UPLOAD_MAX_MEMORY_SIZE")


def test_server_errors_under_the_api_are_json_and_pages_stay_html():
    factory = RequestFactory()
    api = views.server_error(factory.get("/api/tickets/"))
    assert (api.status_code, json.loads(api.content)) == (500, {"detail": "Server error."})
    page = views.server_error(factory.get("/tickets/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_pages_keep_their_html_404(client, agent):
    client.force_login(agent)
    response = client.get("/tickets/999999/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
