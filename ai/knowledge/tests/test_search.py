"""Hybrid search: full text and vectors fused, and only what the caller may see."""

import pytest
from django.urls import reverse

from ai.knowledge.actions import do_update_article
from ai.knowledge.models import ArticleStatus, Audience, SourceType
from ai.knowledge.search import SearchInputError, hybrid_search
from ai.providers import ProviderUnavailable

pytestmark = pytest.mark.django_db

SEARCH_URL = "/api/ai/search/"


@pytest.fixture
def corpus(make_article, resolved_ticket, requester, other_requester, agent):
    return {
        "vpn": make_article(
            "Reset your VPN token",
            "When the VPN client says authentication failed:\n\n1. Open the self-service portal.\n"
            "2. Choose Reset VPN token.\n3. Reconnect with the new token.",
        ),
        "printer": make_article(
            "Clear a printer paper jam",
            "Open tray 2, remove the jammed paper, close the tray and print a test page.",
        ),
        "firewall": make_article(
            "Firewall change procedure",
            "Internal: firewall rule changes need a CAB ticket and the network team approval. Error FW-4711 means "
            "the rule already exists.",
            audience=Audience.INTERNAL,
        ),
        "draft": make_article("VPN token draft", "Unfinished VPN notes.", status=ArticleStatus.DRAFT),
        "own_ticket": resolved_ticket(
            "VPN disconnects every hour",
            "My VPN drops every hour.",
            "Updated the VPN client to 5.2.",
            requester=requester,
        ),
        "other_ticket": resolved_ticket(
            "VPN keeps disconnecting",
            "The VPN connection drops all the time.",
            "Replaced the home router.",
            requester=other_requester,
        ),
    }


def keys(result):
    return [(hit.source_type, hit.source_id) for hit in result.hits]


def test_it_finds_the_relevant_article_first(corpus, agent):
    result = hybrid_search(agent, "I cannot log in to the VPN, it says authentication failed", k=5)
    assert result.mode == "hybrid"
    assert keys(result)[0] == (SourceType.ARTICLE, corpus["vpn"].pk)
    first = result.hits[0]
    assert first.similarity > 0.5 and first.text_rank > 0
    assert first.url == reverse("ai:kb-article-detail", args=[corpus["vpn"].pk])
    assert "authentication failed" in first.snippet


def test_full_text_finds_an_exact_code_that_vectors_rank_poorly(corpus, agent):
    result = hybrid_search(agent, "FW-4711", k=3, sources=["article"])
    assert keys(result)[0] == (SourceType.ARTICLE, corpus["firewall"].pk)
    assert result.hits[0].text_rank > 0


def test_one_hit_per_source_and_scores_fall(corpus, agent):
    result = hybrid_search(agent, "VPN", k=10)
    assert len(keys(result)) == len(set(keys(result)))
    scores = [hit.score for hit in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_a_requester_sees_public_articles_and_their_own_tickets_only(corpus, requester):
    found = set(keys(hybrid_search(requester, "VPN connection drops disconnects", k=20)))
    assert (SourceType.TICKET, corpus["own_ticket"].pk) in found
    assert (SourceType.TICKET, corpus["other_ticket"].pk) not in found
    assert (SourceType.ARTICLE, corpus["firewall"].pk) not in hybrid_search_keys(
        requester, "FW-4711 firewall rule"
    )
    assert (SourceType.ARTICLE, corpus["vpn"].pk) in hybrid_search_keys(
        requester, "VPN authentication failed"
    )


def hybrid_search_keys(user, query):
    return set(keys(hybrid_search(user, query, k=20)))


def test_agents_see_internal_articles_and_every_ticket_viewers_no_internal_articles(corpus, agent, viewer):
    agent_keys = hybrid_search_keys(agent, "VPN disconnects firewall FW-4711")
    assert {
        (SourceType.ARTICLE, corpus["firewall"].pk),
        (SourceType.TICKET, corpus["own_ticket"].pk),
        (SourceType.TICKET, corpus["other_ticket"].pk),
    } <= agent_keys
    viewer_keys = hybrid_search_keys(viewer, "VPN disconnects firewall FW-4711")
    assert (SourceType.ARTICLE, corpus["firewall"].pk) not in viewer_keys
    assert (SourceType.TICKET, corpus["other_ticket"].pk) in viewer_keys


def test_drafts_never_show_and_an_unpublished_article_disappears_before_reindexing(corpus, agent, requester):
    assert (SourceType.ARTICLE, corpus["draft"].pk) not in hybrid_search_keys(
        agent, "VPN token notes unfinished"
    )
    # Unpublished a moment ago, its chunks still in the index: access is checked on the article.
    do_update_article(corpus["vpn"], actor=agent, fields={"status": ArticleStatus.DRAFT})
    assert (SourceType.ARTICLE, corpus["vpn"].pk) not in hybrid_search_keys(
        requester, "VPN authentication failed"
    )


def test_it_can_exclude_a_source_and_limit_source_types(corpus, agent):
    result = hybrid_search(
        agent,
        "VPN drops every hour",
        k=10,
        sources=["ticket"],
        exclude=[(SourceType.TICKET, corpus["own_ticket"].pk)],
    )
    assert keys(result) == [(SourceType.TICKET, corpus["other_ticket"].pk)]


def test_it_falls_back_to_full_text_when_embeddings_are_unavailable(corpus, agent, monkeypatch):
    def down(text):
        raise ProviderUnavailable("down")

    monkeypatch.setattr("ai.knowledge.search.embed_text", down)
    result = hybrid_search(agent, "paper jam tray", k=3)
    assert result.mode == "text"
    assert keys(result)[0] == (SourceType.ARTICLE, corpus["printer"].pk)
    assert result.hits[0].similarity is None


@pytest.mark.parametrize(
    ("query", "k", "sources", "message"),
    [
        ("", 5, None, "empty"),
        ("x" * 2001, 5, None, "longer than"),
        ("vpn", 0, None, "k must"),
        ("vpn", 51, None, "k must"),
        ("vpn", "3", None, "k must"),
        ("vpn", 5, ["wiki"], "Unknown source"),
        ("vpn", 5, [], "at least one"),
    ],
)
def test_it_refuses_bad_input(agent, query, k, sources, message):
    with pytest.raises(SearchInputError, match=message):
        hybrid_search(agent, query, k=k, sources=sources)


# --- POST /api/ai/search/ --------------------------------------------------------------------------
def test_the_search_api_answers_with_ranked_results(corpus, api_for, agent):
    response = api_for(agent).post(
        SEARCH_URL, {"query": "printer paper jam", "k": 2, "sources": ["article"]}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "hybrid"
    assert len(body["results"]) == 2
    first = body["results"][0]
    assert (first["source_type"], first["source_id"]) == ("article", corpus["printer"].pk)
    assert set(first) == {
        "source_type",
        "source_id",
        "title",
        "snippet",
        "position",
        "score",
        "similarity",
        "text_rank",
        "url",
        "key",
        "status",
        "resolution",
        "linked_ticket_id",
    }
    assert (first["key"], first["status"], first["resolution"], first["linked_ticket_id"]) == (
        "",
        "",
        "",
        None,
    )


def test_the_search_api_filters_by_caller(corpus, api_for, requester):
    body = (
        api_for(requester).post(SEARCH_URL, {"query": "firewall FW-4711 VPN", "k": 20}, format="json").json()
    )
    found = {(row["source_type"], row["source_id"]) for row in body["results"]}
    assert ("article", corpus["firewall"].pk) not in found
    assert ("ticket", corpus["other_ticket"].pk) not in found


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "vpn", "k": 0}, "k"),
        ({"query": "vpn", "k": 99}, "k"),
        ({"query": "vpn", "k": "many"}, "k"),
        ({"query": "vpn", "sources": ["wiki"]}, "sources"),
        ({"query": "vpn", "sources": []}, "sources"),
        ({"query": "x" * 2001}, "query"),
    ],
)
def test_the_search_api_answers_400_naming_the_bad_field(api_for, agent, payload, field):
    response = api_for(agent).post(SEARCH_URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_the_search_api_needs_authentication_and_post(client, api_for, agent):
    assert client.post(SEARCH_URL, {"query": "vpn"}, content_type="application/json").status_code == 401
    assert api_for(agent).get(SEARCH_URL).status_code == 405


def test_words_too_common_to_rank_are_left_to_the_vectors(corpus, agent, settings):
    from django.db import connection

    from ai.knowledge.search import text_query_for

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_chunk")
    assert text_query_for(["vpn", "fw", "4711"]) is not None
    settings.AI_SEARCH_MAX_TEXT_MATCHES = 0  # every lexeme the statistics know counts as too common
    query = text_query_for(["vpn", "zebra"])
    raw = query.source_expressions[-1].value
    assert raw == "'zebra'"  # the rare word stays, the common one goes
    result = hybrid_search(agent, "VPN", k=3)
    assert result.hits and all(hit.text_rank is None for hit in result.hits)
