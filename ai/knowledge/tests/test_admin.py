"""The Django admin edits articles through the same actions (author, audit, publish date)."""

import pytest

from ai.knowledge.models import ArticleStatus, KnowledgeArticle

pytestmark = pytest.mark.django_db


def test_admins_create_publish_and_unpublish_articles_in_the_admin(client, admin_user, minilm):
    client.force_login(admin_user)
    assert client.get("/admin/knowledge/knowledgearticle/").status_code == 200
    response = client.post(
        "/admin/knowledge/knowledgearticle/add/",
        {
            "title": "Printer jam",
            "body": "Open tray 2.",
            "status": "draft",
            "audience": "public",
            "category": "",
        },
    )
    assert response.status_code == 302
    article = KnowledgeArticle.objects.get()
    assert (article.author, article.status) == (admin_user, ArticleStatus.DRAFT)
    client.post("/admin/knowledge/knowledgearticle/", {"action": "publish", "_selected_action": [article.pk]})
    article.refresh_from_db()
    assert article.status == ArticleStatus.PUBLISHED and article.published_at is not None
    client.post(
        "/admin/knowledge/knowledgearticle/", {"action": "unpublish", "_selected_action": [article.pk]}
    )
    article.refresh_from_db()
    assert article.status == ArticleStatus.DRAFT
    assert article.events.count() == 3
    assert client.get(f"/admin/knowledge/knowledgearticle/{article.pk}/change/").status_code == 200
    assert client.get("/admin/knowledge/chunk/").status_code == 200
    assert client.get("/admin/knowledge/deflectionevent/").status_code == 200


def test_an_admin_edit_goes_through_the_action(client, admin_user, agent, make_article):
    article = make_article("Printer jam", "Open tray 2.", index=False)
    client.force_login(admin_user)
    response = client.post(
        f"/admin/knowledge/knowledgearticle/{article.pk}/change/",
        {
            "title": "Printer paper jam",
            "body": "Open tray 2.",
            "status": "published",
            "audience": "public",
            "category": "",
        },
    )
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.updated_by, article.author) == ("Printer paper jam", admin_user, agent)
