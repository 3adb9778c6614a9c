"""Knowledge pages: articles for agents (list, create, edit), reading and voting for everyone,
the search box, the ticket panels and the smart reply panel."""

import pytest
from django.urls import reverse

from ai.knowledge.models import ArticleStatus, ArticleVote, Audience, KnowledgeArticle
from tickets import extensions
from tickets.models import Comment

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
BODY = "When the VPN client says authentication failed:\n\n1. Open the self-service portal.\n2. Choose Reset VPN token."


@pytest.fixture
def vpn(make_article):
    return make_article("Reset your VPN token", BODY)


@pytest.fixture
def internal(make_article):
    return make_article(
        "Firewall change procedure", "Firewall rules need CAB approval.", audience=Audience.INTERNAL
    )


def login(client, user):
    client.force_login(user)
    return client


# --- list -----------------------------------------------------------------------------------------
def test_agents_list_every_article_with_a_fixed_number_of_queries(
    client, agent, make_article, django_assert_num_queries
):
    for n in range(3):
        make_article(f"Article {n}", BODY, status=ArticleStatus.DRAFT, index=False)
    login(client, agent)
    url = reverse("ai:kb-article-list")
    client.get(url)  # warm the session
    with django_assert_num_queries(6):
        response = client.get(url)
    assert response.status_code == 200
    for n in range(3, 30):
        make_article(f"Article {n}", BODY, status=ArticleStatus.DRAFT, index=False)
    with django_assert_num_queries(6):
        response = client.get(url)
    assert response.content.count(b'<tr id="kb-article-') == 25


def test_requesters_list_only_published_public_articles(client, requester, vpn, internal, make_article):
    draft = make_article("Draft", BODY, status=ArticleStatus.DRAFT, index=False)
    content = login(client, requester).get(reverse("ai:kb-article-list")).content.decode()
    assert vpn.title in content
    assert internal.title not in content and draft.title not in content
    assert "New article" not in content


def test_the_list_filters_and_answers_htmx_with_the_results_partial(client, agent, vpn, internal):
    login(client, agent)
    response = client.get(reverse("ai:kb-article-list"), {"audience": "internal"}, **HTMX)
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="kb-article-results">')
    assert internal.title in content and vpn.title not in content
    assert "<html" not in content


# --- detail -------------------------------------------------------------------------------------
def test_the_article_page_renders_markdown_safely(client, agent, make_article):
    article = make_article(
        "Careful", "# Steps\n\n1. **Bold** step\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"
    )
    content = login(client, agent).get(article.get_absolute_url()).content.decode()
    assert "<strong>Bold</strong>" in content
    assert "<script>alert(1)</script>" not in content and "&lt;script&gt;" in content
    assert 'href="javascript:' not in content


def test_requesters_cannot_open_internal_or_draft_articles(client, requester, internal, make_article):
    draft = make_article("Draft", BODY, status=ArticleStatus.DRAFT, audience=Audience.PUBLIC, index=False)
    login(client, requester)
    assert client.get(internal.get_absolute_url()).status_code == 404
    assert client.get(draft.get_absolute_url()).status_code == 404


# --- create and edit ------------------------------------------------------------------------------
def test_agents_create_an_article(client, agent):
    response = login(client, agent).post(
        reverse("ai:kb-article-create"),
        {
            "title": "Printer jam",
            "body": "Open tray 2.",
            "audience": "public",
            "status": "published",
            "category": "",
        },
    )
    article = KnowledgeArticle.objects.get(title="Printer jam")
    assert response.status_code == 302 and response["Location"] == article.get_absolute_url()
    assert (article.author, article.status, article.published_at is not None) == (agent, "published", True)
    assert article.events.count() == 1  # the audit trail


def test_bad_article_input_is_refused_and_nothing_is_created(client, agent):
    response = login(client, agent).post(
        reverse("ai:kb-article-create"),
        {
            "title": "  ",
            "body": "",
            "audience": "everyone",
            "status": "published",
        },
    )
    assert response.status_code == 400
    assert not KnowledgeArticle.objects.exists()
    assert "This field is required." in response.content.decode()


def test_agents_edit_an_article_and_publish_it(client, agent, other_agent, make_article):
    article = make_article("Printer jam", "Open tray 2.", status=ArticleStatus.DRAFT, index=False)
    response = login(client, other_agent).post(
        reverse("ai:kb-article-edit", args=[article.pk]),
        {
            "title": "Printer paper jam",
            "body": "Open tray 2.",
            "audience": "public",
            "status": "published",
        },
    )
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.status, article.updated_by) == (
        "Printer paper jam",
        "published",
        other_agent,
    )
    assert article.published_at is not None
    assert list(article.events.values_list("title", flat=True)) == ["Printer jam", "Printer paper jam"]


@pytest.mark.parametrize("persona", ["requester", "viewer"])
def test_only_agents_write_articles(client, request, persona, vpn):
    login(client, request.getfixturevalue(persona))
    assert client.get(reverse("ai:kb-article-create")).status_code == 403
    assert client.post(reverse("ai:kb-article-create"), {"title": "x", "body": "y"}).status_code == 403
    assert (
        client.post(reverse("ai:kb-article-edit", args=[vpn.pk]), {"title": "x", "body": "y"}).status_code
        == 403
    )
    vpn.refresh_from_db()
    assert vpn.title == "Reset your VPN token"
    assert KnowledgeArticle.objects.count() == 1


def test_pages_need_sign_in_and_the_right_method(client, vpn, agent):
    assert client.get(reverse("ai:kb-article-list")).status_code == 302
    login(client, agent)
    assert client.post(reverse("ai:kb-article-list")).status_code == 405
    assert client.get(reverse("ai:kb-article-vote", args=[vpn.pk])).status_code == 405


# --- votes --------------------------------------------------------------------------------------
def test_a_vote_counts_once_per_person_and_can_change(client, requester, vpn):
    login(client, requester)
    url = reverse("ai:kb-article-vote", args=[vpn.pk])
    response = client.post(url, {"helpful": "yes"}, **HTMX)
    assert response.status_code == 200
    assert f'id="kb-votes-{vpn.pk}"' in response.content.decode()
    client.post(url, {"helpful": "yes"}, **HTMX)
    vpn.refresh_from_db()
    assert (vpn.helpful_votes, vpn.not_helpful_votes) == (1, 0)
    assert client.post(url, {"helpful": "no"}).status_code == 302
    vpn.refresh_from_db()
    assert (vpn.helpful_votes, vpn.not_helpful_votes) == (0, 1)
    assert ArticleVote.objects.count() == 1


def test_a_bad_vote_is_refused(client, requester, viewer, vpn, internal):
    login(client, requester)
    assert client.post(reverse("ai:kb-article-vote", args=[vpn.pk]), {"helpful": "maybe"}).status_code == 400
    assert (
        client.post(reverse("ai:kb-article-vote", args=[internal.pk]), {"helpful": "yes"}).status_code == 404
    )
    login(client, viewer)
    assert client.post(reverse("ai:kb-article-vote", args=[vpn.pk]), {"helpful": "yes"}).status_code == 403
    assert not ArticleVote.objects.exists()


# --- search box ----------------------------------------------------------------------------------
def test_the_search_page_shows_hits_and_answers_htmx_with_the_results(client, agent, vpn):
    login(client, agent)
    page = client.get(reverse("ai:kb-search"), {"q": "VPN authentication failed"})
    assert page.status_code == 200 and vpn.title in page.content.decode()
    partial = client.get(reverse("ai:kb-search"), {"q": "VPN authentication failed"}, **HTMX).content.decode()
    assert partial.lstrip().startswith('<section id="kb-search-results">') and vpn.title in partial
    assert client.get(reverse("ai:kb-search")).status_code == 200  # the empty form
    assert client.get(reverse("ai:kb-search"), {"q": "x" * 2001}).status_code == 400


# --- ticket panels -------------------------------------------------------------------------------
def test_the_ticket_page_panels_are_registered():
    panels = {panel.name: panel for panel in extensions.detail_panels.values()}
    assert panels["ai-similar-tickets"].url_name == "ai:kb-ticket-similar"
    assert panels["ai-suggested-articles"].url_name == "ai:kb-ticket-articles"
    assert panels["ai-smart-reply"].url_name == "ai:kb-ticket-draft"
    assert reverse(panels["ai-similar-tickets"].url_name, args=[1]) == "/ai/kb/tickets/1/similar/"


def test_the_panels_show_similar_tickets_and_suggested_articles(
    client, agent, vpn, resolved_ticket, make_ticket
):
    similar = resolved_ticket(
        "VPN authentication failed again", "VPN says authentication failed.", "Re-synced token."
    )
    ticket = make_ticket(
        "VPN authentication failed", description="The VPN client says authentication failed."
    )
    login(client, agent)
    tickets_panel = client.get(reverse("ai:kb-ticket-similar", args=[ticket.pk]), **HTMX).content.decode()
    assert tickets_panel.lstrip().startswith(f'<section class="panel" id="similar-tickets-{ticket.pk}"')
    assert similar.number in tickets_panel and ticket.number not in tickets_panel
    articles_panel = client.get(reverse("ai:kb-ticket-articles", args=[ticket.pk]), **HTMX).content.decode()
    assert vpn.title in articles_panel
    full = client.get(reverse("ai:kb-ticket-articles", args=[ticket.pk]))  # without htmx: a page
    assert b"<html" in full.content and vpn.title.encode() in full.content


def test_panels_follow_ticket_visibility(
    client, agent, other_agent, requester, other_requester, team, make_ticket, vpn
):
    hidden = make_ticket("Payroll", description="secret", sensitive=True, team=team, actor=agent)
    login(client, other_agent)
    assert client.get(reverse("ai:kb-ticket-similar", args=[hidden.pk])).status_code == 404
    own = make_ticket("VPN authentication failed", description="VPN fails.")
    login(client, requester)
    assert client.get(reverse("ai:kb-ticket-similar", args=[own.pk])).status_code == 403  # agents only
    assert client.get(reverse("ai:kb-ticket-articles", args=[own.pk])).status_code == 200
    login(client, other_requester)
    assert client.get(reverse("ai:kb-ticket-articles", args=[own.pk])).status_code == 404


def test_draft_a_reply_fills_a_textarea_and_sends_nothing(client, agent, vpn, make_ticket):
    ticket = make_ticket(
        "VPN authentication failed", description="The VPN client says authentication failed."
    )
    login(client, agent)
    panel = client.get(reverse("ai:kb-ticket-draft", args=[ticket.pk]), **HTMX).content.decode()
    assert "Draft a reply" in panel and f'hx-post="/ai/kb/tickets/{ticket.pk}/reply/"' in panel
    draft = client.post(reverse("ai:kb-ticket-draft", args=[ticket.pk]), **HTMX).content.decode()
    assert 'name="body"' in draft and "1. Open the self-service portal." in draft
    assert vpn.title in draft
    assert not Comment.objects.filter(ticket=ticket).exists()


def test_the_edited_draft_is_sent_as_a_public_reply(client, agent, make_ticket):
    ticket = make_ticket(
        "VPN authentication failed", description="The VPN client says authentication failed."
    )
    login(client, agent)
    response = client.post(
        reverse("ai:kb-ticket-send-reply", args=[ticket.pk]), {"body": "Edited by Bob."}, **HTMX
    )
    assert response.status_code == 200 and response["HX-Trigger"] == '{"ticketUpdated": {}}'
    (comment,) = Comment.objects.filter(ticket=ticket)
    assert (comment.body, comment.internal, comment.author) == ("Edited by Bob.", False, agent)
    empty = client.post(reverse("ai:kb-ticket-send-reply", args=[ticket.pk]), {"body": "   "}, **HTMX)
    assert empty.status_code == 400
    assert Comment.objects.filter(ticket=ticket).count() == 1


def test_requesters_and_viewers_cannot_draft_or_send(client, requester, viewer, make_ticket):
    ticket = make_ticket("VPN authentication failed", description="VPN fails.")
    for user in (requester, viewer):
        login(client, user)
        assert client.post(reverse("ai:kb-ticket-draft", args=[ticket.pk])).status_code == 403
        assert (
            client.post(reverse("ai:kb-ticket-send-reply", args=[ticket.pk]), {"body": "hi"}).status_code
            == 403
        )
    assert not Comment.objects.filter(ticket=ticket).exists()
