"""In Chromium: the AI triage panel accepts a suggestion with HTMX (under the CSP)."""

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from ai.triage.actions import do_triage_ticket
from itsm.models import Role, Team, User
from tickets.actions import do_create_ticket
from tickets.models import Category

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"


def test_an_agent_accepts_a_suggestion_in_the_panel(browser_page):
    team = Team.objects.create(name="Network")
    network = Category.objects.create(name="Network", keywords="vpn", default_team=team)
    agent = User.objects.create_user(
        email="nina@example.com", password=PASSWORD, role=Role.AGENT, full_name="Nina"
    )
    EmailAddress.objects.create(user=agent, email=agent.email, verified=True, primary=True)
    requester = User.objects.create_user(email="rob@example.com", password=PASSWORD, role=Role.USER)
    ticket = do_create_ticket(actor=requester, title="VPN down", description="the vpn refuses me")
    do_triage_ticket(ticket)
    page = browser_page
    page.goto("/accounts/login/")
    page.fill("input[name=login]", agent.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")

    page.goto(f"/ai/triage/tickets/{ticket.pk}/")
    with page.expect_response("**/ai/triage/suggestions/*/accept/") as answer:
        page.click("[data-testid=triage-accept-category]")
    assert answer.value.status == 200
    assert answer.value.request.headers.get("hx-request") == "true"  # swapped by htmx, not a reload
    row = page.locator(f"#triage-panel-{ticket.pk} tr[data-field=category]")
    expect(row).to_contain_text("Accepted")  # once htmx swapped the panel
    ticket.refresh_from_db()
    assert ticket.category == network
