"""The triage panel on the ticket page, its accept/reject buttons, the admin metrics page."""

import pytest

from ai.triage import predict
from ai.triage.actions import do_triage_ticket
from ai.triage.models import SuggestionStatus, TriageResult
from conftest import PASSWORD


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    predict.forget_cached_bundle()
    yield
    predict.forget_cached_bundle()


def login(client, user):
    assert client.login(email=user.email, password=PASSWORD)
    return client


def test_the_panel_lists_suggestions_with_accept_buttons(
    client, agent, make_ticket, network, django_assert_num_queries
):
    ticket = make_ticket("VPN down", description="vpn client error")
    do_triage_ticket(ticket)
    login(client, agent)
    client.get(f"/ai/triage/tickets/{ticket.pk}/")  # warm the session and caches
    with django_assert_num_queries(6):
        response = client.get(f"/ai/triage/tickets/{ticket.pk}/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the partial only
    assert f'id="triage-panel-{ticket.pk}"' in html
    assert "Network" in html
    assert 'data-testid="triage-accept-category"' in html
    result = TriageResult.objects.get(ticket=ticket, field="category")
    assert f'action="/ai/triage/suggestions/{result.pk}/accept/"' in html


def test_the_panel_is_a_whole_page_without_htmx(client, agent, make_ticket, network):
    ticket = make_ticket("VPN down")
    login(client, agent)
    response = client.get(f"/ai/triage/tickets/{ticket.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert "Not triaged yet" in html
    assert f'action="/ai/triage/tickets/{ticket.pk}/run/"' in html


def test_triage_now_runs_once(client, agent, make_ticket, network):
    ticket = make_ticket("VPN down")
    login(client, agent)
    response = client.post(f"/ai/triage/tickets/{ticket.pk}/run/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "ticketUpdated" in response.headers["HX-Trigger"]
    count = TriageResult.objects.filter(ticket=ticket).count()
    assert count >= 4
    client.post(f"/ai/triage/tickets/{ticket.pk}/run/")
    assert TriageResult.objects.filter(ticket=ticket).count() == count


def test_accepting_from_the_panel_applies_and_refreshes(client, agent, make_ticket, network):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    result = TriageResult.objects.get(ticket=ticket, field="category")
    login(client, agent)
    response = client.post(f"/ai/triage/suggestions/{result.pk}/accept/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "ticketUpdated" in response.headers["HX-Trigger"]
    assert "Accepted" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.category == network
    again = client.post(f"/ai/triage/suggestions/{result.pk}/accept/", headers={"HX-Request": "true"})
    assert again.status_code == 200  # htmx swaps only 2xx: the panel shows the message
    assert "already accepted" in again.content.decode()
    assert "HX-Trigger" not in again.headers


def test_a_second_decision_without_javascript_says_why(client, agent, make_ticket, network):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    result = TriageResult.objects.get(ticket=ticket, field="category")
    login(client, agent)
    client.post(f"/ai/triage/suggestions/{result.pk}/reject/")
    response = client.post(f"/ai/triage/suggestions/{result.pk}/accept/", follow=True)
    assert "already rejected" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.category_id is None


def test_rejecting_without_javascript_redirects_to_the_ticket(client, agent, make_ticket, network):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    result = TriageResult.objects.get(ticket=ticket, field="category")
    login(client, agent)
    response = client.post(f"/ai/triage/suggestions/{result.pk}/reject/")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/tickets/{ticket.pk}/"
    result.refresh_from_db()
    assert result.status == SuggestionStatus.REJECTED


def test_the_panel_hides_shadow_predictions(client, agent, make_ticket, network, field_mode):
    for field in ("category", "impact", "urgency", "team", "assignee"):
        field_mode(field, "shadow")
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    login(client, agent)
    html = client.get(f"/ai/triage/tickets/{ticket.pk}/").content.decode()
    assert "shadow mode" in html
    assert "triage-accept" not in html


@pytest.mark.parametrize(("who", "status"), [("requester", 403), ("viewer", 403)])
def test_the_panel_is_for_agents(client, request, make_ticket, who, status):
    ticket = make_ticket("VPN down")
    login(client, request.getfixturevalue(who))
    assert client.get(f"/ai/triage/tickets/{ticket.pk}/").status_code == status


def test_an_invisible_ticket_is_a_404(client, agent, other_team, make_ticket, network):
    secret = make_ticket("VPN down", sensitive=True, team=other_team)
    do_triage_ticket(secret)
    result = TriageResult.objects.get(ticket=secret, field="category")
    login(client, agent)
    assert client.get(f"/ai/triage/tickets/{secret.pk}/").status_code == 404
    assert client.post(f"/ai/triage/suggestions/{result.pk}/accept/").status_code == 404
    result.refresh_from_db()
    assert result.status == SuggestionStatus.PENDING


def test_wrong_methods_are_refused(client, agent, make_ticket):
    ticket = make_ticket("VPN down")
    login(client, agent)
    assert client.post(f"/ai/triage/tickets/{ticket.pk}/").status_code == 405
    assert client.get(f"/ai/triage/tickets/{ticket.pk}/run/").status_code == 405


def test_anonymous_visitors_are_sent_to_sign_in(client, make_ticket):
    ticket = make_ticket("VPN down")
    response = client.get(f"/ai/triage/tickets/{ticket.pk}/")
    assert response.status_code == 302
    assert "/accounts/login/" in response.headers["Location"]


def test_the_metrics_page_is_for_admins(client, admin_user, agent, make_ticket, network):
    ticket = make_ticket("VPN down")
    do_triage_ticket(ticket)
    login(client, agent)
    assert client.get("/ai/triage/metrics/").status_code == 403
    client.logout()
    login(client, admin_user)
    response = client.get("/ai/triage/metrics/")
    assert response.status_code == 200
    assert 'data-testid="triage-metrics"' in response.content.decode()


def test_the_panel_is_registered_on_the_ticket_page():
    from tickets.extensions import detail_panels

    panel = detail_panels["ai-triage"]
    assert panel.url_name == "ai:triage-panel"
    assert panel.agents_only is True


def test_admins_find_the_metrics_page_in_the_navigation(client, admin_user, agent):
    login(client, admin_user)
    assert 'href="/ai/triage/metrics/"' in client.get("/home/").content.decode()
    client.logout()
    login(client, agent)
    assert 'href="/ai/triage/metrics/"' not in client.get("/home/").content.decode()
