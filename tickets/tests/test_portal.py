"""The requester portal: my tickets, catalog requests, the conversation, reopening."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tickets.actions import do_add_comment, do_transition_ticket
from tickets.models import CatalogItem, Category, Comment, Ticket, TicketStatus

pytestmark = pytest.mark.django_db

HOME = reverse("tickets:portal-home")
CATALOG = reverse("tickets:portal-catalog")
REPORT = reverse("tickets:portal-report")


def page(ticket: Ticket) -> str:
    return reverse("tickets:portal-ticket", args=[ticket.pk])


@pytest.fixture
def requester_client(client, requester):
    client.force_login(requester)
    return client


@pytest.fixture
def laptop(db, team) -> CatalogItem:
    return CatalogItem.objects.create(
        name="New laptop",
        slug="new-laptop",
        description="Order a laptop for a colleague.",
        default_category=Category.objects.create(name="Hardware"),
        default_team=team,
        default_impact="low",
        default_urgency="high",
        fields=[
            {
                "name": "model",
                "label": "Model",
                "type": "choice",
                "required": True,
                "choices": ["Small", "Big"],
            },
            {"name": "reason", "label": "Why", "type": "textarea", "required": True, "max_length": 200},
            {"name": "quantity", "label": "How many", "type": "number", "min": 1, "max": 5},
            {"name": "needed_by", "label": "Needed by", "type": "date"},
            {"name": "manager", "label": "Manager email", "type": "email", "required": True},
            {"name": "docking", "label": "With a dock", "type": "boolean"},
            {"name": "asset_tag", "label": "Old asset tag", "type": "text", "max_length": 8},
        ],
    )


def test_my_tickets_lists_only_mine(requester_client, make_ticket, other_requester):
    mine = make_ticket("My printer")
    theirs = make_ticket("Their printer", requester=other_requester)
    html = requester_client.get(HOME).content.decode()
    assert mine.number in html
    assert theirs.number not in html


def test_the_catalog_lists_active_items_and_the_problem_form(requester_client, laptop):
    CatalogItem.objects.create(name="Retired", slug="retired", active=False)
    html = requester_client.get(CATALOG).content.decode()
    assert "New laptop" in html and reverse("tickets:portal-request", args=["new-laptop"]) in html
    assert "Retired" not in html
    assert REPORT in html


def test_a_catalog_request_builds_its_form_from_the_definition(requester_client, laptop):
    html = requester_client.get(reverse("tickets:portal-request", args=["new-laptop"])).content.decode()
    for field in (
        'name="field_model"',
        '<textarea name="field_reason"',
        'type="number" name="field_quantity"',
        'type="date" name="field_needed_by"',
        'type="email" name="field_manager"',
        'type="checkbox" name="field_docking"',
        'name="field_asset_tag"',
        'type="file"',
    ):
        assert field in html, field


def test_a_catalog_request_opens_a_service_request_with_the_answers(
    requester_client, requester, laptop, team
):
    response = requester_client.post(
        reverse("tickets:portal-request", args=["new-laptop"]),
        {
            "field_model": "Big",
            "field_reason": "New hire",
            "field_quantity": "2",
            "field_needed_by": "2025-06-01",
            "field_manager": "boss@example.com",
            "field_docking": "on",
            "field_asset_tag": "",
        },
    )
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page(ticket)
    assert (ticket.type, ticket.channel, ticket.requester, ticket.title) == (
        "service_request",
        "portal",
        requester,
        "New laptop",
    )
    assert (ticket.category, ticket.team, ticket.impact, ticket.urgency) == (
        laptop.default_category,
        team,
        "low",
        "high",
    )
    assert ticket.metadata["catalog_item"]["slug"] == "new-laptop"
    assert ticket.metadata["answers"] == {
        "model": "Big",
        "reason": "New hire",
        "quantity": 2,
        "needed_by": "2025-06-01",
        "manager": "boss@example.com",
        "docking": True,
        "asset_tag": "",
    }
    assert "Model: Big" in ticket.description and "With a dock: Yes" in ticket.description
    assert "Needed by: 2025-06-01" in ticket.description


def test_a_catalog_request_is_validated_by_its_definition(requester_client, laptop):
    response = requester_client.post(
        reverse("tickets:portal-request", args=["new-laptop"]),
        {
            "field_model": "Huge",
            "field_reason": "x" * 201,
            "field_quantity": "9",
            "field_needed_by": "someday",
            "field_manager": "not-an-email",
            "field_asset_tag": "123456789",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) == {
        "field_model",
        "field_reason",
        "field_quantity",
        "field_needed_by",
        "field_manager",
        "field_asset_tag",
    }
    assert not Ticket.objects.exists()


def test_an_inactive_or_unknown_item_is_a_404(requester_client, laptop):
    laptop.active = False
    laptop.save()
    assert requester_client.get(reverse("tickets:portal-request", args=["new-laptop"])).status_code == 404
    assert requester_client.get(reverse("tickets:portal-request", args=["nope"])).status_code == 404


def test_a_broken_definition_sends_the_requester_back_to_the_catalog(requester_client):
    CatalogItem.objects.create(name="Broken", slug="broken", fields=[{"name": "Bad Name!", "type": "text"}])
    response = requester_client.get(reverse("tickets:portal-request", args=["broken"]))
    assert response.status_code == 302
    assert response["Location"] == CATALOG
    assert not Ticket.objects.exists()


def test_report_a_problem_opens_an_incident(requester_client, requester, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = requester_client.post(
        REPORT,
        {
            "title": "Wi-Fi drops",
            "description": "Every hour",
            "urgency": "high",
            "attachments": SimpleUploadedFile("wifi.png", b"\x89PNG", content_type="image/png"),
        },
    )
    ticket = Ticket.objects.get()
    assert response["Location"] == page(ticket)
    assert (ticket.type, ticket.urgency, ticket.channel, ticket.requester) == (
        "incident",
        "high",
        "portal",
        requester,
    )
    assert ticket.attachments.count() == 1


def test_report_a_problem_needs_a_title_and_details(requester_client):
    response = requester_client.post(REPORT, {"title": "", "description": "", "urgency": "high"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Ticket.objects.exists()


def test_the_conversation_shows_public_replies_only(requester_client, make_ticket, agent):
    ticket = make_ticket("Printer")
    do_add_comment(ticket, actor=agent, body="We are on it")
    do_add_comment(ticket, actor=agent, body="Probably user error", internal=True)
    html = requester_client.get(page(ticket)).content.decode()
    assert "We are on it" in html
    assert "Probably user error" not in html


def test_the_conversation_alone_over_htmx(requester_client, make_ticket, agent):
    ticket = make_ticket("Printer")
    do_add_comment(ticket, actor=agent, body="We are on it")
    html = requester_client.get(page(ticket), HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section id="conversation"')
    assert "We are on it" in html and "<html" not in html


def test_a_long_conversation_shows_its_newest_messages_and_the_rest_on_demand(
    requester_client, make_ticket, agent, monkeypatch
):
    monkeypatch.setattr("tickets.views.portal.TIMELINE_ENTRIES", 3)
    ticket = make_ticket("Printer")
    for index in range(5):
        do_add_comment(ticket, actor=agent, body=f"update number {index}")
    do_add_comment(ticket, actor=agent, body="Internal only", internal=True)  # never counted nor shown
    html = requester_client.get(page(ticket)).content.decode()
    assert html.count('data-testid="reply"') == 3
    assert "update number 1" not in html and "Internal only" not in html
    assert html.index("update number 2") < html.index("update number 3") < html.index("update number 4")
    assert "Only the newest 3 messages are shown" in html
    whole = requester_client.get(page(ticket) + "?conversation=all", HTTP_HX_REQUEST="true").content.decode()
    assert whole.lstrip().startswith('<section id="conversation"')
    assert whole.count('data-testid="reply"') == 5 and 'data-testid="conversation-earlier"' not in whole
    monkeypatch.setattr("tickets.views.portal.TIMELINE_ENTRIES", 5)  # exactly as many: no link
    html = requester_client.get(page(ticket)).content.decode()
    assert html.count('data-testid="reply"') == 5 and 'data-testid="conversation-earlier"' not in html


def test_a_requester_replies(requester_client, make_ticket, requester):
    ticket = make_ticket("Printer")
    response = requester_client.post(
        reverse("tickets:portal-reply", args=[ticket.pk]), {"body": "Still broken"}
    )
    assert response.status_code == 302
    comment = Comment.objects.get()
    assert (comment.author, comment.internal, comment.body) == (requester, False, "Still broken")


def test_a_reply_over_htmx_returns_the_conversation(requester_client, make_ticket):
    ticket = make_ticket("Printer")
    response = requester_client.post(
        reverse("tickets:portal-reply", args=[ticket.pk]), {"body": "Hello?"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="conversation"')
    assert "Hello?" in html
    empty = requester_client.post(
        reverse("tickets:portal-reply", args=[ticket.pk]), {"body": ""}, HTTP_HX_REQUEST="true"
    )
    assert empty.status_code == 400
    assert Comment.objects.count() == 1


def test_a_closed_ticket_takes_no_more_replies(requester_client, make_ticket):
    ticket = make_ticket("Printer")
    do_transition_ticket(ticket, TicketStatus.CANCELLED, actor=None)
    response = requester_client.post(reverse("tickets:portal-reply", args=[ticket.pk]), {"body": "Hello?"})
    assert response.status_code == 400
    assert not Comment.objects.exists()


def test_the_portal_says_why_a_closed_ticket_takes_no_reply(requester_client, make_ticket, agent):
    ticket = make_ticket("Printer")
    do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="Replaced toner")
    do_transition_ticket(ticket, TicketStatus.CLOSED, actor=agent)
    assert "Send reply" not in requester_client.get(page(ticket)).content.decode()
    response = requester_client.post(
        reverse("tickets:portal-reply", args=[ticket.pk]), {"body": "Hello?"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "This ticket is closed" in response.content.decode()
    assert not Comment.objects.exists()


def test_a_requester_reopens_a_resolved_ticket(requester_client, make_ticket):
    ticket = make_ticket("Printer")
    do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=None, resolution="Replaced toner")
    html = requester_client.get(page(ticket)).content.decode()
    assert "Replaced toner" in html and "Reopen this ticket" in html
    response = requester_client.post(
        reverse("tickets:portal-reopen", args=[ticket.pk]), {"reason": "Jammed again"}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopen_count) == (TicketStatus.OPEN, 1)


def test_reopening_an_open_ticket_is_refused(requester_client, make_ticket):
    ticket = make_ticket("Printer")
    do_transition_ticket(ticket, TicketStatus.IN_PROGRESS, actor=None)
    response = requester_client.post(reverse("tickets:portal-reopen", args=[ticket.pk]), {})
    assert response.status_code == 409
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.IN_PROGRESS


def test_other_peoples_tickets_are_a_404(client, other_requester, make_ticket):
    ticket = make_ticket("Printer")
    do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=None, resolution="done")
    client.force_login(other_requester)
    assert client.get(page(ticket)).status_code == 404
    assert client.post(reverse("tickets:portal-reply", args=[ticket.pk]), {"body": "hi"}).status_code == 404
    assert client.post(reverse("tickets:portal-reopen", args=[ticket.pk]), {}).status_code == 404
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED and not Comment.objects.exists()


def test_viewers_cannot_open_requests(client, viewer, laptop):
    client.force_login(viewer)
    assert client.post(REPORT, {"title": "x", "description": "y", "urgency": "low"}).status_code == 403
    assert client.post(reverse("tickets:portal-request", args=["new-laptop"]), {}).status_code == 403
    assert not Ticket.objects.exists()


def test_portal_pages_refuse_wrong_methods(requester_client, make_ticket):
    ticket = make_ticket("Printer")
    assert requester_client.post(HOME).status_code == 405
    assert requester_client.get(reverse("tickets:portal-reply", args=[ticket.pk])).status_code == 405
    assert requester_client.get(reverse("tickets:portal-reopen", args=[ticket.pk])).status_code == 405


def test_the_portal_needs_a_login(client):
    assert client.get(HOME).status_code == 302


def test_the_portal_speaks_french(requester_client):
    response = requester_client.post(REPORT, {"title": ""}, HTTP_ACCEPT_LANGUAGE="fr")
    html = response.content.decode()
    assert 'lang="fr"' in html and "Ce champ est obligatoire." in html


def test_the_report_form_suggests_help_articles_for_deflection(client, requester):
    client.force_login(requester)
    html = client.get(reverse("tickets:portal-report")).content.decode()
    assert "data-kb-deflection-form" in html
    assert f'hx-get="{reverse("ai:kb-suggest")}"' in html
    assert "knowledge/deflection.js" in html
