"""In Chromium: the ticket page loads the configuration-items panel and an agent accepts a
suggestion with HTMX (under the CSP)."""

import pytest
from allauth.account.models import EmailAddress

from cmdb import actions
from cmdb.models import TicketItem
from itsm.models import Role, User
from tickets.actions import do_create_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"


def test_an_agent_accepts_a_suggested_item_on_the_ticket_page(browser_page):
    agent = User.objects.create_user(
        email="nina@example.com", password=PASSWORD, role=Role.AGENT, full_name="Nina"
    )
    EmailAddress.objects.create(user=agent, email=agent.email, verified=True, primary=True)
    requester = User.objects.create_user(email="rob@example.com", password=PASSWORD, role=Role.USER)
    actions.do_create_item(actor=None, name="web01", type="server", ip_addresses=["10.0.1.11"])
    ticket = do_create_ticket(actor=requester, title="Site down", description="10.0.1.11 answers 502")
    actions.do_extract_ticket_items(ticket)
    page = browser_page
    page.goto("/accounts/login/")
    page.fill("input[name=login]", agent.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")

    page.goto(f"/tickets/{ticket.pk}/")
    panel = page.locator(f"#cmdb-panel-{ticket.pk}")
    panel.locator("[data-testid=cmdb-suggestion]").wait_for()  # loaded by hx-get
    assert "“10.0.1.11” (IP address)" in panel.inner_text()
    with page.expect_response("**/cmdb/suggestions/*/accept/") as answer:
        panel.locator("[data-testid^=cmdb-accept-]").click()
    assert answer.value.status == 200
    assert answer.value.request.headers.get("hx-request") == "true"
    page.locator(f"#cmdb-panel-{ticket.pk} [data-testid=cmdb-link]").wait_for()
    assert TicketItem.objects.get(ticket=ticket).item.name == "web01"
