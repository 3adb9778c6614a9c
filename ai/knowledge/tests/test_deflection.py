"""Suggested articles on the requester's new-ticket form, and the deflection they earn when the
requester leaves without submitting (a beacon to /ai/kb/deflection/)."""

import re
from pathlib import Path

import pytest
from django.core import signing
from django.urls import reverse

from ai.knowledge.actions import DEFLECTION_SALT, issue_suggestion_token
from ai.knowledge.models import Audience, DeflectionEvent

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def articles(make_article):
    return {
        "vpn": make_article(
            "Reset your VPN token", "When the VPN says authentication failed:\n\n1. Open the portal."
        ),
        "internal": make_article(
            "VPN concentrator failover",
            "Internal: VPN authentication failed on the cluster.",
            audience=Audience.INTERNAL,
        ),
    }


def suggest(client, **params):
    return client.get(reverse("ai:kb-suggest"), params, **HTMX)


def token_in(content: str) -> str:
    return re.search(r'data-kb-deflection-token="([^"]+)"', content).group(1)


def test_it_suggests_public_articles_for_what_the_requester_types(client, requester, articles):
    client.force_login(requester)
    content = suggest(
        client, title="VPN authentication failed", description="cannot connect"
    ).content.decode()
    assert content.lstrip().startswith('<div id="kb-suggestions"')
    assert articles["vpn"].title in content
    assert articles["internal"].title not in content
    assert 'data-kb-deflection-url="/ai/kb/deflection/"' in content
    payload = signing.loads(token_in(content), salt=DEFLECTION_SALT)
    assert payload["u"] == requester.pk and payload["a"] == [articles["vpn"].pk]


def test_nothing_relevant_or_too_short_suggests_nothing(client, requester, articles):
    client.force_login(requester)
    for params in ({"q": "ab"}, {"q": "Order a birthday cake for Friday"}, {}):
        content = suggest(client, **params).content.decode()
        assert "data-kb-deflection-token" not in content and "<li>" not in content


def test_agents_get_suggestions_but_no_deflection_token(client, agent, articles):
    client.force_login(agent)
    content = suggest(client, q="VPN authentication failed").content.decode()
    assert articles["vpn"].title in content and "data-kb-deflection-token" not in content


def test_leaving_after_suggestions_counts_one_deflection(client, requester, articles):
    client.force_login(requester)
    token = token_in(suggest(client, q="VPN authentication failed").content.decode())
    response = client.post(reverse("ai:kb-deflection"), {"token": token})
    assert response.status_code == 201
    (event,) = DeflectionEvent.objects.all()
    assert (event.user, event.article_ids, event.query) == (
        requester,
        [articles["vpn"].pk],
        "VPN authentication failed",
    )
    # The beacon again (a retried pagehide): nothing changes.
    assert client.post(reverse("ai:kb-deflection"), {"token": token}).status_code == 200
    assert DeflectionEvent.objects.count() == 1
    assert DeflectionEvent.objects.mentioning(articles["vpn"]).count() == 1


def test_the_counts_show_to_agents(client, requester, agent, articles):
    token = issue_suggestion_token(requester, "vpn", [articles["vpn"].pk])
    client.force_login(requester)
    client.post(reverse("ai:kb-deflection"), {"token": token})
    client.force_login(agent)
    assert "1 ticket deflected" in client.get(reverse("ai:kb-article-list")).content.decode()
    assert (
        "suggested in 1 deflected request" in client.get(articles["vpn"].get_absolute_url()).content.decode()
    )


def test_a_bad_or_foreign_token_is_refused_and_counts_nothing(client, requester, other_requester, articles):
    foreign = issue_suggestion_token(other_requester, "vpn", [articles["vpn"].pk])
    empty = issue_suggestion_token(requester, "vpn", [])
    client.force_login(requester)
    for token, message in (
        (foreign, "someone else"),
        ("forged:token", "not a suggestion"),
        ("", "not a suggestion"),
        (empty, "Nothing was suggested"),
    ):
        response = client.post(reverse("ai:kb-deflection"), {"token": token})
        assert response.status_code == 400
        assert message in response.content.decode()
    assert not DeflectionEvent.objects.exists()


def test_an_expired_token_is_refused(client, requester, articles, time_machine):
    time_machine.move_to("2026-01-01 09:00:00+00:00", tick=False)
    token = issue_suggestion_token(requester, "vpn", [articles["vpn"].pk])
    time_machine.move_to("2026-01-02 09:00:01+00:00", tick=False)
    client.force_login(requester)
    response = client.post(reverse("ai:kb-deflection"), {"token": token})
    assert response.status_code == 400 and "expired" in response.content.decode()


def test_the_beacon_needs_sign_in_csrf_and_post(client, requester, articles):
    assert client.post(reverse("ai:kb-deflection"), {"token": "x"}).status_code == 302
    client.force_login(requester)
    assert client.get(reverse("ai:kb-deflection")).status_code == 405
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(requester)
    token = issue_suggestion_token(requester, "vpn", [articles["vpn"].pk])
    assert strict.post(reverse("ai:kb-deflection"), {"token": token}).status_code == 403
    assert not DeflectionEvent.objects.exists()


def test_the_script_is_served_from_our_static_files(client):
    from django.contrib.staticfiles import finders

    script = Path(finders.find("knowledge/deflection.js")).read_text()
    assert "sendBeacon" in script and "pagehide" in script and "data-kb-deflection-form" in script
