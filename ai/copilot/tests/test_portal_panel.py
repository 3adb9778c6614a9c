"""The copilot panel on the requester's portal ticket page: loaded with HTMX, answering as the
requester — their own tickets and public articles, never another requester's ticket."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ai.copilot.models import CopilotRun

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def mine(make_ticket, requester):
    return make_ticket("Printer on floor 3 is jammed", description="Paper everywhere.", requester=requester)


@pytest.fixture
def theirs(make_ticket, other_requester):
    return make_ticket("Payroll export shows salaries", description="Private.", requester=other_requester)


def test_the_portal_ticket_page_loads_the_copilot_panel(client, requester, mine):
    client.force_login(requester)
    page = client.get(reverse("tickets:portal-ticket", args=[mine.pk]))
    url = reverse("ai:copilot-panel", args=[mine.pk])
    assert f'hx-get="{url}"'.encode() in page.content
    assert f'href="{url}"'.encode() in page.content  # without JavaScript, a link
    panel = client.get(url, **HTMX)
    assert panel.status_code == 200
    assert b'data-testid="copilot-panel"' in panel.content
    assert b"<html" not in panel.content
    assert b'name="source" value="portal"' in panel.content
    assert b"quick-fix" not in panel.content  # quick fixes are for agents


def test_a_requester_asks_about_their_ticket_from_the_portal(client, requester, mine):
    client.force_login(requester)
    response = client.post(
        reverse("ai:copilot"),
        {"question": "What is the status of this ticket?", "ticket": mine.pk, "source": "portal"},
        **HTMX,
    )
    assert response.status_code == 200
    assert mine.number.encode() in response.content
    assert b"Turn this into a ticket" not in response.content  # it is already a ticket
    run = CopilotRun.objects.get()
    assert (run.source, run.ticket, run.user) == ("portal", mine, requester)


def test_a_requester_cannot_reach_another_requesters_ticket_through_it(client, requester, mine, theirs):
    client.force_login(requester)
    assert client.get(reverse("ai:copilot-panel", args=[theirs.pk]), **HTMX).status_code == 404
    assert client.get(reverse("tickets:portal-ticket", args=[theirs.pk])).status_code == 404
    refused = client.post(
        reverse("ai:copilot"), {"question": "what is this?", "ticket": theirs.pk, "source": "portal"}, **HTMX
    )
    assert refused.status_code == 404
    # Named in a question asked on their own ticket: answered as if it did not exist.
    for question in (f"Tell me about {theirs.number}", "Tickets similar to this?", "my tickets"):
        response = client.post(
            reverse("ai:copilot"), {"question": question, "ticket": mine.pk, "source": "portal"}, **HTMX
        )
        assert response.status_code == 200
        assert b"Payroll" not in response.content, question
        assert theirs.number.encode() not in response.content or b"no ticket" in response.content.lower()
