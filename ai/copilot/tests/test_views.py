"""Copilot pages: the page and the ticket panel (HTMX and plain), proposals in one click, runs
browser and trace, replay, the requester's ticket draft."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ai.copilot import actions
from ai.copilot.models import CopilotRun, ProposalDecision
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def printer(make_ticket, agent, team):
    return make_ticket("Printer on floor 3 is jammed", team=team, actor=agent)


@pytest.fixture
def secret(make_ticket, agent, team, other_requester):
    return make_ticket(
        "Payroll export leaked salaries", sensitive=True, team=team, requester=other_requester, actor=agent
    )


def test_the_page_asks_and_shows_the_answer_inline(client, agent, printer):
    client.force_login(agent)
    page = client.get(reverse("ai:copilot"))
    assert page.status_code == 200 and b'data-testid="copilot-form"' in page.content
    response = client.post(reverse("ai:copilot"), {"question": f"Tell me about {printer.number}"}, **HTMX)
    assert response.status_code == 200
    assert b"<html" not in response.content  # the partial only
    assert printer.title.encode() in response.content
    assert CopilotRun.objects.get().source == "page"
    plain = client.post(reverse("ai:copilot"), {"question": "my tickets"})
    assert plain.status_code == 200 and b"<html" in plain.content


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_a_bad_question_is_a_400_with_the_reason(client, agent, question):
    client.force_login(agent)
    response = client.post(reverse("ai:copilot"), {"question": question}, **HTMX)
    assert response.status_code == 400
    assert b'role="alert"' in response.content
    assert not CopilotRun.objects.exists()


def test_the_panel_follows_ticket_visibility(client, agent, other_agent, secret, printer):
    client.force_login(agent)
    panel = client.get(reverse("ai:copilot-panel", args=[secret.pk]), **HTMX)
    assert panel.status_code == 200 and b'data-testid="copilot-panel"' in panel.content
    assert client.get(reverse("ai:copilot-panel", args=[secret.pk])).status_code == 200  # without JS
    client.force_login(other_agent)
    assert client.get(reverse("ai:copilot-panel", args=[secret.pk]), **HTMX).status_code == 404
    response = client.post(reverse("ai:copilot"), {"question": "what is this?", "ticket": secret.pk}, **HTMX)
    assert response.status_code == 404
    assert client.post(reverse("ai:copilot"), {"question": "x", "ticket": "abc"}, **HTMX).status_code == 400
    asked = client.post(
        reverse("ai:copilot"),
        {"question": "tell me about this ticket", "ticket": printer.pk, "source": "ticket"},
        **HTMX,
    )
    assert printer.title.encode() in asked.content
    assert CopilotRun.objects.get().source == "ticket"


def test_the_ticket_page_loads_the_panel(client, agent, printer):
    client.force_login(agent)
    page = client.get(reverse("tickets:ticket-detail", args=[printer.pk]))
    assert reverse("ai:copilot-panel", args=[printer.pk]).encode() in page.content


def test_a_proposal_is_confirmed_in_one_click_once(client, agent, printer):
    client.force_login(agent)
    run = actions.do_ask_copilot(actor=agent, question=f"assign {printer.number} to Bob")
    proposal = run.proposals.get()
    url = reverse("ai:copilot-accept", args=[proposal.pk])
    response = client.post(url, **HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "ticketUpdated"
    assert b"copilot-proposal-decision" in response.content
    printer.refresh_from_db()
    assert printer.assignee == agent
    assert client.post(url, **HTMX).status_code == 409
    assert ProposalDecision.objects.count() == 1
    assert client.get(url).status_code == 405


def test_someone_elses_proposal_is_a_404_and_a_refused_action_says_why(
    client, agent, requester, admin_user, printer
):
    run = actions.do_ask_copilot(actor=agent, question=f"assign {printer.number} to Bob")
    client.force_login(admin_user)
    assert client.post(reverse("ai:copilot-accept", args=[run.proposals.get().pk]), **HTMX).status_code == 404
    mine = actions.do_ask_copilot(actor=requester, question=f"close {printer.number}")
    client.force_login(requester)
    response = client.post(reverse("ai:copilot-accept", args=[mine.proposals.get().pk]), **HTMX)
    assert response.status_code == 403 and b'role="alert"' in response.content
    assert not ProposalDecision.objects.exists()


def test_the_runs_browser_shows_own_runs_and_admins_all(
    client, agent, other_agent, admin_user, django_assert_max_num_queries
):
    for _n in range(3):
        actions.do_ask_copilot(actor=agent, question="my tickets")
    theirs = actions.do_ask_copilot(actor=other_agent, question="Tell me a joke")
    client.force_login(agent)
    page = client.get(reverse("ai:copilot-runs"))
    assert page.content.count(b"my tickets") == 3 and b"Tell me a joke" not in page.content
    assert client.get(reverse("ai:copilot-run", args=[theirs.pk])).status_code == 404
    client.force_login(admin_user)
    with django_assert_max_num_queries(8):
        page = client.get(reverse("ai:copilot-runs"), {"status": "declined"})
    assert b"Tell me a joke" in page.content and b"my tickets" not in page.content
    trace = client.get(reverse("ai:copilot-run", args=[theirs.pk]))
    assert trace.status_code == 200 and b'data-testid="copilot-steps"' in trace.content
    assert (
        client.get(reverse("ai:copilot-runs"), {"tool": "search_tickets", "user": agent.email}).content.count(
            b"my tickets"
        )
        == 3
    )


def test_replay_from_the_trace_page(client, agent, printer):
    run = actions.do_ask_copilot(actor=agent, question="open tickets about the printer")
    client.force_login(agent)
    response = client.post(reverse("ai:copilot-replay", args=[run.pk]), {"planner": ""})
    replay = CopilotRun.objects.get(replay_of=run)
    assert response.status_code == 302 and response["Location"] == reverse("ai:copilot-run", args=[replay.pk])
    assert b"The answer is the same." in client.get(response["Location"]).content


def test_a_requester_turns_the_conversation_into_a_ticket(client, requester):
    client.force_login(requester)
    answer = client.post(reverse("ai:copilot"), {"question": "my vpn keeps dropping on wifi"}, **HTMX)
    assert b'data-testid="copilot-create-ticket"' in answer.content
    assert b"selected>Network" in answer.content or b"selected>" not in answer.content
    response = client.post(
        reverse("ai:copilot-ticket"),
        {"title": "VPN keeps dropping", "description": "On wifi.", "category": ""},
    )
    ticket = Ticket.objects.get(title="VPN keeps dropping")
    assert response["Location"] == reverse("tickets:ticket-detail", args=[ticket.pk])
    assert (ticket.requester, ticket.channel) == (requester, "portal")
    assert client.post(reverse("ai:copilot-ticket"), {"title": " "}).status_code == 302
    assert Ticket.objects.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for name, args in (
        ("ai:copilot", []),
        ("ai:copilot-runs", []),
        ("ai:copilot-run", [1]),
        ("ai:copilot-panel", [1]),
    ):
        response = client.get(reverse(name, args=args))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
