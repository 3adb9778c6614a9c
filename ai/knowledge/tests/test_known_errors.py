"""Known errors become knowledge: suggested on the ticket page, published as an article in one step."""

import pytest
from django.urls import reverse

from ai.knowledge.models import ArticleStatus, KnowledgeArticle, PublishedKnownError
from problems import actions as problem_actions

pytestmark = pytest.mark.django_db


@pytest.fixture
def known_error(agent):
    problem = problem_actions.do_create_problem(
        actor=agent, title="VPN disconnects every hour", description="Tunnels drop at the hour."
    )
    return problem_actions.do_update_problem(
        problem,
        actor=agent,
        root_cause="The concentrator renegotiates keys hourly",
        workaround="Reconnect with the 'keep alive' profile",
        status="known_error",
    )


def test_a_known_error_is_suggested_on_a_resembling_ticket(known_error, make_ticket, client, agent):
    ticket = make_ticket("VPN disconnects again this morning")
    other = make_ticket("Printer out of toner")
    client.force_login(agent)
    panel = client.get(reverse("problems:ticket-panel", args=[ticket.pk])).content.decode()
    assert known_error.number in panel and "keep alive" in panel
    assert "keep alive" not in client.get(reverse("problems:ticket-panel", args=[other.pk])).content.decode()


def test_an_agent_publishes_a_known_error_once(known_error, client, agent):
    client.force_login(agent)
    page = client.get(reverse("problems:problem-detail", args=[known_error.pk])).content.decode()
    assert "Publish as a knowledge article" in page
    url = reverse("ai:kb-publish-known-error", args=[known_error.pk])
    response = client.post(url)
    article = KnowledgeArticle.objects.get()
    assert response.url == reverse("ai:kb-article-detail", args=[article.pk])
    assert article.status == ArticleStatus.PUBLISHED and "keep alive" in article.body
    assert "concentrator" in article.body
    assert client.post(url).url == response.url  # publishing twice shows the same article
    assert KnowledgeArticle.objects.count() == 1 and PublishedKnownError.objects.count() == 1
    page = client.get(reverse("problems:problem-detail", args=[known_error.pk])).content.decode()
    assert "Publish as a knowledge article" not in page


def test_only_agents_publish_and_only_known_errors(known_error, client, viewer, requester, agent):
    url = reverse("ai:kb-publish-known-error", args=[known_error.pk])
    client.force_login(viewer)
    assert client.post(url).status_code == 403
    client.force_login(requester)
    assert client.post(url).status_code in (403, 404)
    client.force_login(agent)
    assert client.get(url).status_code == 405
    plain = problem_actions.do_create_problem(actor=agent, title="Slow disks")
    response = client.post(reverse("ai:kb-publish-known-error", args=[plain.pk]))
    assert response.url == reverse("problems:problem-detail", args=[plain.pk])
    assert not KnowledgeArticle.objects.exists()
