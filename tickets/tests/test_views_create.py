"""The agents' create form."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tickets.models import Attachment, Category, Ticket

pytestmark = pytest.mark.django_db

NEW = reverse("tickets:ticket-create")


def test_an_agent_opens_a_ticket_for_a_requester(agent_client, agent, requester, team, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    category = Category.objects.create(name="Email")
    response = agent_client.post(
        NEW,
        {
            "title": "Outlook crashes",
            "description": "On start",
            "type": "incident",
            "impact": "high",
            "urgency": "medium",
            "category": category.pk,
            "requester": requester.email.upper(),
            "assignee": agent.pk,
            "team": team.pk,
            "tags": "Outlook, crash",
            "attachments": SimpleUploadedFile("shot.png", b"\x89PNG", content_type="image/png"),
        },
    )
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:ticket-detail", args=[ticket.pk])
    assert (ticket.title, ticket.requester, ticket.assignee, ticket.team, ticket.category) == (
        "Outlook crashes",
        requester,
        agent,
        team,
        category,
    )
    assert (ticket.priority, ticket.tags, ticket.channel, ticket.created_by) == (
        "high",
        ["outlook", "crash"],
        "web",
        agent,
    )
    assert ticket.organisation == requester.organisation
    assert Attachment.objects.get().ticket == ticket


def test_without_a_requester_the_agent_is_the_requester(agent_client, agent):
    agent_client.post(NEW, {"title": "My own", "type": "incident", "impact": "low", "urgency": "low"})
    assert Ticket.objects.get().requester == agent


def test_the_form_shows_errors_and_creates_nothing_on_bad_input(agent_client, requester):
    response = agent_client.post(
        NEW,
        {
            "title": "",
            "type": "problem",
            "impact": "huge",
            "urgency": "low",
            "requester": "nobody@example.com",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html
    assert "Select a valid choice." in html
    assert "No active user has the address nobody@example.com." in html
    assert not Ticket.objects.exists()


def test_a_non_agent_assignee_is_refused(agent_client, requester):
    response = agent_client.post(
        NEW, {"title": "x", "type": "incident", "impact": "low", "urgency": "low", "assignee": requester.pk}
    )
    assert response.status_code == 400
    assert not Ticket.objects.exists()


def test_a_forbidden_attachment_creates_nothing(agent_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = agent_client.post(
        NEW,
        {
            "title": "x",
            "type": "incident",
            "impact": "low",
            "urgency": "low",
            "attachments": SimpleUploadedFile("a.html", b"<script>", content_type="text/html"),
        },
    )
    assert response.status_code == 400
    assert "are not accepted" in response.content.decode()
    assert not Ticket.objects.exists() and not Attachment.objects.exists()


def test_only_agents_open_tickets_here(client, viewer, requester):
    client.force_login(viewer)
    assert client.get(NEW).status_code == 403
    assert (
        client.post(NEW, {"title": "x", "type": "incident", "impact": "low", "urgency": "low"}).status_code
        == 403
    )
    client.force_login(requester)
    assert client.get(NEW).status_code == 302  # to the portal
    assert (
        client.post(NEW, {"title": "x", "type": "incident", "impact": "low", "urgency": "low"}).status_code
        == 403
    )
    assert not Ticket.objects.exists()


def test_the_form_refuses_other_methods(agent_client):
    assert agent_client.put(NEW).status_code == 405


def test_the_form_speaks_french(agent_client):
    response = agent_client.post(NEW, {"title": ""}, HTTP_ACCEPT_LANGUAGE="fr")
    html = response.content.decode()
    assert 'lang="fr"' in html
    assert "Ce champ est obligatoire." in html
    assert not Ticket.objects.exists()
