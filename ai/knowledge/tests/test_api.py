"""Articles API under /api/ai/articles/: agents write, everyone reads what they may see, votes."""

import pytest

from ai.knowledge.models import ArticleStatus, Audience, KnowledgeArticle

pytestmark = pytest.mark.django_db

URL = "/api/ai/articles/"


@pytest.fixture
def articles(make_article):
    return {
        "public": make_article("Reset your VPN token", "1. Open the portal.", index=False),
        "internal": make_article(
            "Firewall changes", "CAB approval.", audience=Audience.INTERNAL, index=False
        ),
        "draft": make_article(
            "Draft", "Unfinished.", status=ArticleStatus.DRAFT, audience=Audience.PUBLIC, index=False
        ),
    }


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def test_agents_list_every_article_with_a_fixed_number_of_queries(
    api_for, agent, articles, make_article, django_assert_num_queries
):
    client = api_for(agent)
    client.get(URL)  # the first use of a token also records when it was used
    with django_assert_num_queries(4):  # token, throttle counter, count, page (authors joined)
        response = client.get(URL)
    assert ids(response) == {article.pk for article in articles.values()}
    for n in range(10):
        make_article(f"More {n}", "text", index=False)
    with django_assert_num_queries(4):
        assert len(client.get(URL).json()["results"]) == 13


@pytest.mark.parametrize("persona", ["requester", "viewer"])
def test_requesters_and_viewers_read_published_public_articles(api_for, request, persona, articles):
    client = api_for(request.getfixturevalue(persona))
    assert ids(client.get(URL)) == {articles["public"].pk}
    assert client.get(f"{URL}{articles['internal'].pk}/").status_code == 404
    assert client.post(URL, {"title": "x", "body": "y"}, format="json").status_code == 403
    assert client.patch(f"{URL}{articles['public'].pk}/", {"title": "x"}, format="json").status_code == 403
    assert client.delete(f"{URL}{articles['public'].pk}/").status_code == 403
    assert KnowledgeArticle.objects.get(pk=articles["public"].pk).title == "Reset your VPN token"


def test_agents_create_update_and_delete(api_for, agent):
    client = api_for(agent)
    response = client.post(
        URL, {"title": "Printer jam", "body": "Open tray 2.", "audience": "public"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["author"], body["url"]) == ("draft", agent.email, f"/ai/kb/{body['id']}/")
    response = client.patch(f"{URL}{body['id']}/", {"status": "published"}, format="json")
    assert response.status_code == 200
    assert response.json()["published_at"] is not None
    assert client.delete(f"{URL}{body['id']}/").status_code == 204
    assert not KnowledgeArticle.objects.exists()


def test_filters_by_status_and_audience(api_for, agent, articles):
    client = api_for(agent)
    assert ids(client.get(URL, {"status": "draft"})) == {articles["draft"].pk}
    assert ids(client.get(URL, {"audience": "internal"})) == {articles["internal"].pk}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"body": "x"}, "title"),
        ({"title": "x"}, "body"),
        ({"title": " ", "body": "x"}, "title"),
        ({"title": "x", "body": "y", "status": "live"}, "status"),
        ({"title": "x", "body": "y", "audience": "all"}, "audience"),
        ({"title": "x", "body": "y", "category": 999999}, "category"),
        ({"title": "x" * 300, "body": "y"}, "title"),
    ],
)
def test_bad_input_is_a_400_and_creates_nothing(api_for, agent, payload, field):
    response = api_for(agent).post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not KnowledgeArticle.objects.exists()


def test_a_vote_through_the_api_counts_once(api_for, requester, articles):
    client = api_for(requester)
    url = f"{URL}{articles['public'].pk}/vote/"
    first = client.post(url, {"helpful": True}, format="json")
    assert first.status_code == 200 and first.json()["changed"] is True
    again = client.post(url, {"helpful": True}, format="json")
    assert again.json()["changed"] is False and again.json()["helpful_votes"] == 1
    assert client.post(url, {"helpful": "perhaps"}, format="json").status_code == 400
    assert (
        client.post(f"{URL}{articles['internal'].pk}/vote/", {"helpful": True}, format="json").status_code
        == 404
    )


def test_viewers_cannot_vote(api_for, viewer, articles):
    response = api_for(viewer).post(f"{URL}{articles['public'].pk}/vote/", {"helpful": True}, format="json")
    assert response.status_code == 403
    assert KnowledgeArticle.objects.get(pk=articles["public"].pk).helpful_votes == 0


def test_the_schema_documents_the_ai_endpoints(api_for, agent):
    schema = api_for(agent).get("/api/schema/", {"format": "json"}).json()
    assert {
        "/api/ai/search/",
        "/api/ai/articles/",
        "/api/ai/articles/{id}/vote/",
        "/api/ai/tickets/{id}/draft-reply/",
    } <= set(schema["paths"])
