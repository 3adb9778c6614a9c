"""POST /api/ai/classify/, GET /api/ai/metrics/, a ticket's triage, accept/reject."""

import pytest

from ai.triage import predict
from ai.triage.actions import do_triage_ticket
from ai.triage.models import SuggestionStatus, TriageResult
from tickets.actions import do_transition_ticket


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    predict.forget_cached_bundle()
    yield
    predict.forget_cached_bundle()


def test_classify_predicts_every_field_without_storing(api_for, agent, network, other_team, other_agent):
    response = api_for(agent).post(
        "/api/ai/classify/", {"title": "VPN down", "description": "vpn firewall"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "rules-v1"
    predictions = body["predictions"]
    assert set(predictions) == {"category", "impact", "urgency", "team", "assignee"}
    assert predictions["category"]["value"] == str(network.pk)
    assert predictions["category"]["label"] == "Network"
    assert predictions["category"]["method"] == "rules"
    assert predictions["category"]["mode"] == "assist"
    assert predictions["category"]["would_apply"] is False
    assert predictions["team"]["label"] == other_team.name
    assert predictions["assignee"]["value"] == str(other_agent.pk)
    assert predictions["assignee"]["method"] == "routing"
    assert 0 <= predictions["urgency"]["confidence"] <= 1
    assert not TriageResult.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": "ok", "type": "bogus"}, "type"),
        ({"title": "ok", "description": ["a"]}, "description"),
    ],
)
def test_classify_explains_bad_input(api_for, agent, payload, field):
    response = api_for(agent).post("/api/ai/classify/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("who", ["requester", "viewer"])
def test_classify_is_for_agents(api_for, request, who):
    response = api_for(request.getfixturevalue(who)).post("/api/ai/classify/", {"title": "x"}, format="json")
    assert response.status_code == 403


def test_classify_needs_a_token(client):
    response = client.post("/api/ai/classify/", {"title": "x"}, content_type="application/json")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_classify_refuses_get(api_for, agent):
    assert api_for(agent).get("/api/ai/classify/").status_code == 405


def test_metrics_report_accuracy_and_auto_no_correction(
    api_for, admin_user, make_ticket, network, field_mode, django_assert_max_num_queries
):
    field_mode("category", "auto", threshold=0.5)
    right = make_ticket("VPN down", description="vpn firewall")
    do_triage_ticket(right)
    do_transition_ticket(right, "resolved", actor=None, resolution="fixed", actor_label="system:test")
    client = api_for(admin_user)
    with django_assert_max_num_queries(8):
        response = client.get("/api/ai/metrics/")
    assert response.status_code == 200
    category = response.json()["fields"]["category"]
    assert category["predictions"] == 1
    assert category["evaluated"] == 1
    assert category["accuracy"] == 1.0
    assert category["auto_applied"] == 1
    assert category["auto_no_correction_rate"] == 1.0
    assert category["precision_at_threshold"] == 1.0
    assert category["coverage_at_threshold"] == 1.0
    assert category["mode"] == "auto"
    assert response.json()["model"] is None


@pytest.mark.parametrize("who", ["agent", "requester", "viewer"])
def test_metrics_are_for_admins(api_for, request, who):
    assert api_for(request.getfixturevalue(who)).get("/api/ai/metrics/").status_code == 403


def test_an_agent_lists_and_accepts_a_suggestion(
    api_for, agent, make_ticket, network, django_assert_num_queries
):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    client = api_for(agent)
    client.get(f"/api/ai/tickets/{ticket.pk}/triage/")
    # the token (+ user), the throttle's counter (one upsert), the agent's teams, the ticket, the results
    with django_assert_num_queries(5):
        listing = client.get(f"/api/ai/tickets/{ticket.pk}/triage/")
    assert listing.status_code == 200
    suggestion = next(row for row in listing.json() if row["field"] == "category")
    assert suggestion["status"] == "pending"
    response = client.post(f"/api/ai/suggestions/{suggestion['id']}/accept/")
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert response.json()["decided_by"] == agent.email
    ticket.refresh_from_db()
    assert ticket.category == network
    again = client.post(f"/api/ai/suggestions/{suggestion['id']}/accept/")
    assert again.status_code == 409
    assert "already accepted" in again.json()["detail"]


def test_rejecting_through_the_api(api_for, agent, make_ticket, network):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    result = TriageResult.objects.get(ticket=ticket, field="category")
    response = api_for(agent).post(f"/api/ai/suggestions/{result.pk}/reject/")
    assert response.status_code == 200
    result.refresh_from_db()
    assert result.status == SuggestionStatus.REJECTED


def test_suggestions_of_invisible_tickets_are_not_found(
    api_for, agent, other_agent, other_team, make_ticket, network
):
    secret = make_ticket("VPN down", sensitive=True, team=other_team)
    do_triage_ticket(secret)
    result = TriageResult.objects.get(ticket=secret, field="category")
    client = api_for(agent)  # not in the Network team: cannot see a sensitive Network ticket
    assert client.post(f"/api/ai/suggestions/{result.pk}/accept/").status_code == 404
    assert client.get(f"/api/ai/tickets/{secret.pk}/triage/").status_code == 404
    result.refresh_from_db()
    assert result.status == SuggestionStatus.PENDING
    assert api_for(other_agent).post(f"/api/ai/suggestions/{result.pk}/accept/").status_code == 200


@pytest.mark.parametrize("who", ["requester", "viewer"])
def test_requesters_and_viewers_cannot_decide(api_for, request, make_ticket, network, who):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    result = TriageResult.objects.get(ticket=ticket, field="category")
    response = api_for(request.getfixturevalue(who)).post(f"/api/ai/suggestions/{result.pk}/accept/")
    assert response.status_code == 403
    result.refresh_from_db()
    assert result.status == SuggestionStatus.PENDING


def test_an_unknown_suggestion_is_a_404(api_for, agent):
    assert api_for(agent).post("/api/ai/suggestions/999999/accept/").status_code == 404
