"""In Chromium: a requester asks the copilot from their portal ticket page, with the keyboard only
(HTMX swaps the answer in; the page is not reloaded)."""

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse
from playwright.sync_api import expect

from itsm.models import Role, User
from tickets.actions import do_create_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"


def test_a_requester_asks_the_copilot_on_their_ticket_with_the_keyboard(browser_page):
    requester = User.objects.create_user(email="rob@example.com", password=PASSWORD, role=Role.USER)
    EmailAddress.objects.create(user=requester, email=requester.email, verified=True, primary=True)
    other = User.objects.create_user(email="zoe@example.com", password=PASSWORD, role=Role.USER)
    ticket = do_create_ticket(actor=requester, title="Printer on floor 3 is jammed", description="Paper jam")
    hidden = do_create_ticket(actor=other, title="Payroll export shows salaries", description="Private")
    page = browser_page
    page.goto("/accounts/login/")
    page.fill("input[name=login]", requester.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

    url = reverse("tickets:portal-ticket", args=[ticket.pk])
    page.goto(url)
    question = page.get_by_label("Your question")
    question.wait_for()  # the panel came in with hx-get

    def ask(text: str, expected: str) -> None:
        question.focus()
        page.keyboard.press("Control+A")
        page.keyboard.type(text)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.dataset.testid") == "copilot-ask"
        with page.expect_response("**/ai/copilot/") as answer:
            page.keyboard.press("Enter")
        assert answer.value.status == 200
        assert answer.value.request.headers.get("hx-request") == "true"  # swapped by htmx, not a reload
        # the answer is read once htmx has swapped it in (the response arrives before the swap)
        expect(page.locator(f"#copilot-answer-{ticket.pk} [data-testid=copilot-text]")).to_contain_text(
            expected
        )

    ask("What is the status of this ticket?", ticket.number)
    ask(f"Tell me about {hidden.number}", f"no ticket {hidden.number} that you can see")
    assert "Payroll" not in page.content()
    assert page.url.endswith(url)
