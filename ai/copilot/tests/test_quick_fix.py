"""Quick fix: steps from a known error or resolved tickets, the sources, decisions recorded once
per click through the normal actions, and the KPI they feed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ai.copilot.models import QuickFixDecision
from itsm import kpis
from problems import actions as problem_actions
from problems.models import ProblemIncident
from tickets import actions

pytestmark = pytest.mark.django_db


@pytest.fixture
def vpn(make_ticket, agent, team):
    return make_ticket(
        "VPN drops every hour", description="The VPN client disconnects hourly.", team=team, actor=agent
    )


@pytest.fixture
def known_error(agent):
    problem = problem_actions.do_create_problem(actor=agent, title="VPN client disconnects hourly")
    return problem_actions.do_transition_problem(
        problem, "known_error", actor=agent, workaround="1. Update the VPN client.\n2. Reset its profile."
    )


@pytest.fixture
def resolved(make_ticket, agent, team):
    tickets = []
    for n in range(3):
        ticket = make_ticket(
            f"VPN drops every hour {n}", description="VPN disconnects.", team=team, actor=agent
        )
        actions.do_transition_ticket(
            ticket, "resolved", actor=agent, resolution="Reinstalled the VPN client."
        )
        tickets.append(ticket)
    return tickets


def test_a_known_error_gives_its_workaround_and_can_be_linked_once(api_for, agent, vpn, known_error):
    client = api_for(agent)
    body = client.get(f"/api/ai/tickets/{vpn.pk}/quick-fix/").json()
    assert body["steps"] == ["Update the VPN client.", "Reset its profile."]
    assert body["confidence"] == 0.8
    assert body["sources"] == [
        {"type": "problem", "id": known_error.pk, "label": f"{known_error.number} {known_error.title}"}
    ]
    assert body["known_error"]["linked"] is False
    response = client.post(
        f"/api/ai/tickets/{vpn.pk}/quick-fix/decision/", {"outcome": "linked"}, format="json"
    )
    assert response.status_code == 201
    assert ProblemIncident.objects.filter(problem=known_error, ticket=vpn).count() == 1
    again = client.post(f"/api/ai/tickets/{vpn.pk}/quick-fix/decision/", {"outcome": "linked"}, format="json")
    assert again.status_code == 201  # recorded, and the link is not made twice
    assert ProblemIncident.objects.filter(problem=known_error, ticket=vpn).count() == 1


def test_resolved_tickets_that_agree_give_their_resolution(api_for, agent, vpn, resolved):
    body = api_for(agent).get(f"/api/ai/tickets/{vpn.pk}/quick-fix/").json()
    assert body["steps"] == ["Reinstalled the VPN client."]
    assert 0 < body["confidence"] <= 0.75
    assert {source["id"] for source in body["sources"]} <= {ticket.pk for ticket in resolved}
    assert body["known_error"] is None


def test_nothing_known_gives_no_steps(api_for, agent, make_ticket, team):
    ticket = make_ticket("Quantum flux capacitor humming", team=team, actor=agent)
    body = api_for(agent).get(f"/api/ai/tickets/{ticket.pk}/quick-fix/").json()
    assert (body["steps"], body["confidence"]) == ([], 0.0)


def test_who_may_ask_and_bad_input(
    api_for, agent, other_agent, requester, vpn, make_ticket, team, other_requester
):
    secret = make_ticket("Payroll leak", sensitive=True, team=team, requester=other_requester, actor=agent)
    assert api_for(other_agent).get(f"/api/ai/tickets/{secret.pk}/quick-fix/").status_code == 404
    assert api_for(requester).get(f"/api/ai/tickets/{vpn.pk}/quick-fix/").status_code == 403
    client = api_for(agent)
    assert (
        client.post(
            f"/api/ai/tickets/{vpn.pk}/quick-fix/decision/", {"outcome": "x"}, format="json"
        ).status_code
        == 400
    )
    no_known_error = client.post(
        f"/api/ai/tickets/{vpn.pk}/quick-fix/decision/", {"outcome": "linked"}, format="json"
    )
    assert no_known_error.status_code == 400
    assert not QuickFixDecision.objects.exists()


def test_decisions_feed_the_kpi(api_for, agent, vpn, resolved):
    client = api_for(agent)
    for outcome in ("inserted", "dismissed", "inserted", "inserted"):
        client.post(f"/api/ai/tickets/{vpn.pk}/quick-fix/decision/", {"outcome": outcome}, format="json")
    now = timezone.now()
    result = kpis.compute(
        ["quick_fix_acceptance_rate"], now - timedelta(days=1), now + timedelta(minutes=1), user=agent
    )
    assert result.value("quick_fix_acceptance_rate") == 0.75


def test_the_panel_inserts_the_steps_into_a_reply_form(client, agent, vpn, known_error):
    client.force_login(agent)
    panel = client.get(reverse("ai:copilot-quick-fix", args=[vpn.pk]), HTTP_HX_REQUEST="true")
    assert b"Update the VPN client." in panel.content and b'data-testid="quick-fix-insert"' in panel.content
    response = client.post(
        reverse("ai:copilot-quick-fix-decision", args=[vpn.pk]),
        {"outcome": "inserted"},
        HTTP_HX_REQUEST="true",
    )
    assert b'data-testid="quick-fix-reply"' in response.content
    assert b"1. Update the VPN client.\n2. Reset its profile." in response.content
    assert reverse("tickets:ticket-comment", args=[vpn.pk]).encode() in response.content
    assert QuickFixDecision.objects.get().outcome == "inserted"
    assert client.get(reverse("ai:copilot-quick-fix-decision", args=[vpn.pk])).status_code == 405
