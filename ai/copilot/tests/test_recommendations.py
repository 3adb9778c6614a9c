"""Recommendations: each rule from its numbers, raised once while open, dismissed or done once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ai.copilot.models import Recommendation, RecommendationKind
from ai.copilot.recommendations import do_generate_recommendations
from ai.copilot.tasks import generate_recommendations
from ai.knowledge.actions import do_create_article, do_vote_article
from ai.knowledge.models import ArticleStatus, Audience
from itsm.models import Role, User
from tickets.models import Category, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def network(db):
    return Category.objects.create(name="Network", keywords="vpn")


@pytest.fixture
def rising(make_ticket, network):
    for n in range(6):
        make_ticket(f"VPN down {n}", category=network)


def kinds() -> set[str]:
    return set(Recommendation.objects.open().values_list("kind", flat=True))


def test_a_sharp_rise_in_a_category_recommends_a_problem_once(rising, network):
    assert do_generate_recommendations() == 1
    (item,) = Recommendation.objects.all()
    assert item.kind == RecommendationKind.RISING_CATEGORY
    assert item.evidence == {"category": "Network", "last_7_days": 6, "weekly_average_before": 0.0}
    assert item.action_url == reverse("problems:problem-create")
    assert do_generate_recommendations() == 0  # still open: not raised twice
    generate_recommendations()  # the periodic task does the same
    assert Recommendation.objects.count() == 1


def test_a_usual_week_recommends_nothing(make_ticket, network):
    now = timezone.now()
    for week in range(5):
        for n in range(5):
            make_ticket(f"VPN {week}-{n}", category=network, created_at=now - timedelta(days=7 * week + 1))
    do_generate_recommendations()
    assert RecommendationKind.RISING_CATEGORY not in kinds()


def test_a_team_over_capacity_while_another_has_room(make_ticket, agent, team, other_agent, other_team):
    agent.capacity = 1
    agent.save(update_fields=["capacity"])
    for n in range(3):
        make_ticket(f"Printer {n}", team=team)
    do_generate_recommendations()
    (item,) = Recommendation.objects.filter(kind=RecommendationKind.TEAM_OVER_CAPACITY)
    assert (
        item.evidence["team"] == team.name and item.evidence["open"] == 3 and item.evidence["capacity"] == 1
    )
    assert item.evidence["team_with_room"] == other_team.name


def test_an_article_voted_unhelpful_and_resolved_tickets_without_an_article(admin_user, network, make_ticket):
    article = do_create_article(
        actor=admin_user,
        title="VPN",
        body="Restart.",
        status=ArticleStatus.PUBLISHED,
        audience=Audience.PUBLIC,
    )
    for n in range(3):
        voter = User.objects.create_user(email=f"voter{n}@example.com", password=None, role=Role.USER)
        do_vote_article(article, actor=voter, helpful=False)
    for n in range(10):
        make_ticket(f"VPN {n}", category=network)
    Ticket.objects.update(status="resolved", resolved_at=timezone.now() - timedelta(days=1))
    do_generate_recommendations()
    assert {RecommendationKind.ARTICLE_UNHELPFUL, RecommendationKind.MISSING_ARTICLE} <= kinds()
    unhelpful = Recommendation.objects.get(kind=RecommendationKind.ARTICLE_UNHELPFUL)
    assert unhelpful.evidence["unhelpful_votes_30_days"] == 3
    assert unhelpful.action_url == reverse("ai:kb-article-edit", args=[article.pk])


def test_the_api_lists_and_closes_once(api_for, agent, requester, viewer, rising):
    do_generate_recommendations()
    (item,) = Recommendation.objects.all()
    assert [row["id"] for row in api_for(agent).get("/api/ai/recommendations/").json()["results"]] == [
        item.pk
    ]
    assert api_for(viewer).get("/api/ai/recommendations/").status_code == 200
    assert api_for(requester).get("/api/ai/recommendations/").status_code == 403
    assert api_for(agent).get("/api/ai/recommendations/", {"status": "bogus"}).status_code == 400
    assert api_for(viewer).post(f"/api/ai/recommendations/{item.pk}/dismiss/").status_code == 403
    response = api_for(agent).post(f"/api/ai/recommendations/{item.pk}/dismiss/")
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    assert api_for(agent).post(f"/api/ai/recommendations/{item.pk}/done/").status_code == 409
    item.refresh_from_db()
    assert (item.status, item.decided_by) == ("dismissed", agent)
    assert api_for(agent).get("/api/ai/recommendations/").json()["results"] == []
    assert api_for(agent).post("/api/ai/recommendations/999999/done/").status_code == 404
    # Dismissed, the same numbers do not raise it again this week.
    assert do_generate_recommendations() == 0


def test_the_page_lists_open_ones_and_marks_done(client, agent, requester, rising):
    do_generate_recommendations()
    item = Recommendation.objects.get()
    client.force_login(agent)
    page = client.get(reverse("ai:copilot-recommendations"))
    assert item.title.encode() in page.content
    response = client.post(reverse("ai:copilot-recommendation-done", args=[item.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content == b""
    item.refresh_from_db()
    assert item.status == "done"
    assert client.get(reverse("ai:copilot-recommendation-done", args=[item.pk])).status_code == 405
    client.force_login(requester)
    assert client.get(reverse("ai:copilot-recommendations")).status_code == 403
