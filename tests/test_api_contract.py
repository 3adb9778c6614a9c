"""The OpenAPI schema tells the truth: Schemathesis generates requests for every operation of
``/api/schema/`` against a live server, as an agent, and every answer must be a non-5xx that
matches the response schema declared for its status.

Bounded: a few derandomised examples per operation, a deadline per example. Operations that
delete or that would change the shared fixtures for the ones after them are left out (listed in
``SKIPPED`` with the reason); the fixtures give the path parameters real ids, so the detail
operations answer 200s, not only 404s.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from ai.knowledge.actions import do_create_article
from ai.tests.fixtures import fake_openai  # noqa: F401 - a local OpenAI-compatible server
from ai.triage.actions import do_triage_ticket
from itsm.models import ApiToken
from problems.actions import do_create_problem
from sla.defaults import ensure_defaults
from sla.models import SLAPolicy
from tickets import actions

EXAMPLES_PER_OPERATION = 4
DEADLINE = timedelta(seconds=15)
CHECKS = [not_a_server_error, response_schema_conformance]

# (method, path) left out, and why.
SKIPPED = {
    ("DELETE", "/api/ai/articles/{id}/"): "deletes a shared fixture",
    ("DELETE", "/api/webhooks/{id}/"): "deletes a shared fixture",
    ("DELETE", "/api/integrations/chat/channels/{id}/"): "deletes a shared fixture",
    ("DELETE", "/api/sla/policies/{id}/"): "deletes a shared fixture",
}
# Run after every other operation: they may close the fixture tickets (closed is final).
LAST = [
    ("POST", "/api/tickets/{id}/transition/"),
    ("POST", "/api/tickets/bulk/"),
    ("POST", "/api/tickets/{id}/merge/"),
]


@pytest.fixture
def fixtures(agent, team, make_ticket):
    """One of each thing the API shows, owned by or visible to the agent."""
    ticket = make_ticket("VPN drops every hour", team=team, actor=agent, tags=["vpn"])
    other = make_ticket("Mail relay slow", team=team, actor=agent)
    comment = actions.do_add_comment(ticket, actor=agent, body="Looking at it.")
    actions.do_add_relation(ticket, target=other, kind="related", actor=agent)
    problem = do_create_problem(actor=agent, title="VPN instability", incidents=[ticket])
    article = do_create_article(actor=agent, title="Reset your VPN token", body="1. Open the portal.")
    export = actions.do_request_export(actor=agent, format="csv", filters={})
    suggestion = do_triage_ticket(ticket)[0]
    ensure_defaults()  # the SLA policies of the data migration (a flush may have removed them)
    return {
        "id": ticket.pk,
        "pk": ticket.pk,
        "comment_id": comment.pk,
        "problem": problem.pk,
        "article": article.pk,
        "export": export.pk,
        "suggestion": suggestion.pk,
        "policy": SLAPolicy.objects.order_by("pk").first().pk,
    }


def path_parameters(path: str, fixtures: dict[str, int]) -> dict[str, int]:
    """Real ids for an operation's path: the fixture its path names."""
    if "{id}" not in path and "{pk}" not in path:
        return {}
    for prefix, key in (
        ("/api/problems/", "problem"),
        ("/api/ai/articles/", "article"),
        ("/api/exports/", "export"),
        ("/api/ai/suggestions/", "suggestion"),
        ("/api/sla/policies/", "policy"),
    ):
        if path.startswith(prefix):
            return {"id": fixtures[key]}
    values = {"id": fixtures["id"], "pk": fixtures["pk"]}
    if "{comment_id}" in path:
        values["comment_id"] = fixtures["comment_id"]
    return {name: value for name, value in values.items() if f"{{{name}}}" in path}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_answer_matches_the_schema(live_server, agent, fixtures, settings, fake_openai):  # noqa: F811
    settings.AI_TRIAGE_ENABLED = False
    # Embeddings from a local OpenAI-compatible server: the contract is the API's, and loading
    # the local model would double the time of this test.
    settings.AI_EMBEDDINGS_PROVIDER = "openai"
    settings.AI_EMBEDDINGS_BASE_URL = fake_openai.base_url
    settings.AI_EMBEDDINGS_API_KEY = "sk-test-key"
    settings.JIRA_WEBHOOK_SECRET = "a-secret-no-generated-request-knows"  # else: a deliberate 503
    _token, key = ApiToken.issue(agent)
    headers = {"Authorization": f"Token {key}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", timeout=60)
    failures: list[str] = []
    tested = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda operation: (operation.method.upper(), operation.path) in LAST)
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        tested += 1
        strategy = operation.as_strategy(path_parameters=path_parameters(operation.path, fixtures))

        @given(case=strategy)
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=DEADLINE,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS, timeout=30)

        try:
            check()
        except (Exception, BaseExceptionGroup) as error:  # every failing operation, not the first only
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert tested > 60
    assert not failures, "\n\n".join(failures)
