"""In Chromium: a requester asks for an item that needs approval, the team lead rejects it on
the Approvals page (HTMX), and the requester reads why on their request's page."""

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from itsm.models import Role, Team, User
from tickets.models import CatalogItem, Ticket, TicketStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"


def person(email: str, role: str, name: str) -> User:
    user = User.objects.create_user(email=email, password=PASSWORD, role=role, full_name=name)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def sign_in(page, user: User) -> None:
    page.goto("/accounts/logout/")
    if page.locator("form button[type=submit]").count():
        page.click("form button[type=submit]")
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_a_rejected_request_is_cancelled_and_the_requester_reads_why(browser_page):
    lead = person("nina@example.com", Role.AGENT, "Nina Lead")
    requester = person("dave@example.com", Role.USER, "Dave Requester")
    team = Team.objects.create(name="Hardware", lead=lead)
    CatalogItem.objects.create(
        name="New laptop",
        slug="new-laptop",
        default_team=team,
        requires_approval=True,
        fields=[
            {"name": "model", "label": "Model", "type": "choice", "required": True, "choices": ["S", "L"]}
        ],
    )
    page = browser_page
    sign_in(page, requester)
    page.goto("/tickets/portal/new/")
    assert "Needs approval" in page.locator("section.catalog").inner_text()
    page.click("text=New laptop")
    page.select_option("select[name=field_model]", "L")
    page.click("form.panel button[type=submit]")
    page.wait_for_selector("[data-testid=request-approval]")
    assert "waits for approval" in page.locator("[data-testid=request-approval]").inner_text()
    ticket = Ticket.objects.get(requester=requester)
    assert ticket.status == TicketStatus.PENDING_APPROVAL

    sign_in(page, lead)
    page.goto("/approvals/")
    card = page.locator("article.approval").first
    card.locator("textarea[name=comment]").fill("Laptops are frozen until May.")
    with page.expect_response("**/reject/") as answer:
        card.locator("[data-testid^=reject-]").click()
    assert answer.value.status == 200 and answer.value.request.headers.get("hx-request") == "true"
    expect(page.locator("article.approval h3").first).to_contain_text("Rejected")  # once swapped

    sign_in(page, requester)
    page.goto(f"/tickets/portal/{ticket.pk}/")
    assert "Cancelled" in page.locator("[data-testid=status]").inner_text()
    assert "Laptops are frozen until May." in page.locator("[data-testid=request-approval]").inner_text()
