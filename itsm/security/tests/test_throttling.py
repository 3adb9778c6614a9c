"""API throttles: per token or user, per address for anonymous calls, higher for integrations."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from itsm.models import TokenScope
from itsm.security import actions

pytestmark = pytest.mark.django_db


def token_client(user, scope, **extra) -> APIClient:
    _token, key = actions.do_create_api_token(user, name="t", scope=scope, actor=user)
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_over_its_limit_gets_429_with_retry_after(settings, agent):
    settings.API_THROTTLE_USER = "3/min"
    api = token_client(agent, TokenScope.TICKETS)
    assert [api.get("/api/me/").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get("/api/me/")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"].lower()


def test_each_token_has_its_own_count(settings, agent):
    settings.API_THROTTLE_USER = "2/min"
    first, second = token_client(agent, TokenScope.READ), token_client(agent, TokenScope.READ)
    for _ in range(2):
        first.get("/api/me/")
    assert first.get("/api/me/").status_code == 429
    assert second.get("/api/me/").status_code == 200


def test_integration_tokens_have_the_higher_limit(settings, admin_user):
    settings.API_THROTTLE_USER = "2/min"
    settings.API_THROTTLE_INTEGRATION = "5/min"
    api = token_client(admin_user, TokenScope.INTEGRATIONS)
    assert [api.get("/api/me/").status_code for _ in range(6)] == [200] * 5 + [429]


def test_a_session_is_throttled_per_user(settings, client, requester):
    settings.API_THROTTLE_USER = "2/min"
    client.force_login(requester)
    assert [client.get("/api/me/").status_code for _ in range(3)] == [200, 200, 429]


def test_anonymous_calls_are_throttled_per_address(settings):
    # A day's window: the schema takes a second or more to build on a loaded machine, and three
    # calls in a minute's window could straddle its edge (the window is fixed) and all pass.
    settings.API_THROTTLE_ANON = "2/day"
    first, second = APIClient(REMOTE_ADDR="198.51.100.1"), APIClient(REMOTE_ADDR="198.51.100.2")
    assert [first.get("/api/schema/").status_code for _ in range(3)][-1] == 429
    assert second.get("/api/schema/").status_code != 429


def test_the_jira_webhook_has_its_own_limit(settings):
    settings.API_THROTTLE_WEBHOOK = "2/min"
    settings.API_THROTTLE_ANON = "1000/min"
    settings.JIRA_WEBHOOK_SECRET = "s3cret-for-the-test"
    webhook = APIClient(REMOTE_ADDR="192.0.2.10")
    codes = [
        webhook.post("/api/integrations/jira/webhook/", b"{}", content_type="application/json").status_code
        for _ in range(3)
    ]
    assert 429 not in codes[:2] and codes[2] == 429
    # Another sender address is counted apart; the API limit for other calls is untouched.
    assert (
        APIClient(REMOTE_ADDR="192.0.2.11")
        .post("/api/integrations/jira/webhook/", b"{}", content_type="application/json")
        .status_code
        != 429
    )


# --- the counter itself: one statement, shared, fixed windows, purged ---------------------------
def test_a_counter_counts_within_its_window_and_starts_again_in_the_next():
    from itsm.security.models import RateCounter

    assert RateCounter.hit("k", 60, at=120.0) == (1, 60.0)
    assert RateCounter.hit("k", 60, at=150.0) == (2, 30.0)
    assert RateCounter.hit("other", 60, at=150.0) == (1, 30.0)
    assert RateCounter.hit("k", 60, at=180.5) == (1, 59.5)  # a new minute
    assert RateCounter.objects.count() == 2


def test_old_counters_are_purged_and_current_ones_kept():
    import time

    from itsm.security.models import RateCounter
    from itsm.security.tasks import purge_rate_counters

    now = time.time()
    RateCounter.hit("old", 60, at=now - 3 * 24 * 3600)
    RateCounter.hit("current", 60, at=now)
    assert purge_rate_counters() == 1
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["current"]
    assert purge_rate_counters() == 0


def test_a_throttled_call_costs_one_query(settings, agent, django_assert_num_queries):
    settings.API_THROTTLE_USER = "1/min"
    api = token_client(agent, TokenScope.TICKETS)
    assert api.get("/api/me/").status_code == 200
    # Authentication (the token with its user, one query) and the one counter statement.
    with django_assert_num_queries(2):
        assert api.get("/api/me/").status_code == 429
