"""End to end in Chromium: an agent works a ticket, the requester reads the answer in the portal."""

import pytest
from allauth.account.models import EmailAddress
from django.db import connection

from itsm.models import Organisation, Role, Team, User
from tickets.models import Ticket, TicketStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"


def make_user(email: str, role: str, full_name: str, **extra: object) -> User:
    user = User.objects.create_user(email=email, password=PASSWORD, role=role, full_name=full_name, **extra)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture(autouse=True)
def _leave_no_queued_jobs():
    """Other apps queue work on the ticket signals; nothing runs it here, so drop it after."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
        first_id = cursor.fetchone()[0]
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_periodic_defers WHERE job_id > %s", [first_id])
        cursor.execute("DELETE FROM procrastinate_jobs WHERE id > %s", [first_id])


def sign_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")


def test_an_agent_works_a_ticket_and_the_requester_reads_the_reply(browser_page):
    team = Team.objects.create(name="Service Desk")
    agent = make_user("ana.agent@example.com", Role.AGENT, "Ana Agent")
    team.members.add(agent)
    make_user(
        "rick.requester@example.com",
        Role.USER,
        "Rick Requester",
        organisation=Organisation.objects.create(name="Acme"),
    )
    page = browser_page

    # The agent creates the ticket for the requester.
    sign_in(page, "ana.agent@example.com")
    page.goto("/tickets/new/")
    page.fill("input[name=title]", "Cannot print payslips")
    page.fill("textarea[name=description]", "The office printer rejects every job.")
    page.fill("input[name=requester]", "rick.requester@example.com")
    page.click("form.ticket-form button[type=submit]")
    page.wait_for_url("**/tickets/*/")
    ticket = Ticket.objects.get()
    assert page.get_by_test_id("ticket-title").inner_text() == "Cannot print payslips"

    # Assigns it without a page reload (HTMX swaps the sidebar).
    page.select_option("#assign-form select[name=assignee]", label="Ana Agent")
    page.click("#assign-form button[type=submit]")
    page.wait_for_selector("[data-testid=side-assignee]:has-text('Ana Agent')")
    assert page.url.endswith(f"/tickets/{ticket.pk}/")

    # Replies; the timeline refreshes itself.
    page.fill("#reply-form textarea[name=body]", "Please restart the printer, then try again.")
    page.click("#reply-form button[type=submit]")
    page.wait_for_selector("#ticket-timeline [data-testid=reply]:has-text('Please restart the printer')")

    # Edits the reply in place: an empty text is refused where it was typed, then saved.
    reply = page.locator("#ticket-timeline [data-testid=reply]")
    reply.locator("summary:has-text('Edit')").click()
    reply.locator("textarea[name=body]").fill("")
    reply.locator("textarea[name=body]").evaluate("element => element.removeAttribute('required')")
    reply.locator("button:has-text('Save')").click()
    page.wait_for_selector(
        "#ticket-timeline [data-testid=reply] .errorlist:has-text('This field is required')"
    )
    reply.locator("textarea[name=body]").fill("Please restart the printer, then try again. Tray 2 too.")
    reply.locator("button:has-text('Save')").click()
    page.wait_for_selector("#ticket-timeline [data-testid=reply] [data-testid=edited]")
    assert "Tray 2 too." in reply.locator(".prose").inner_text()
    assert page.url.endswith(f"/tickets/{ticket.pk}/")

    # Resolving needs a resolution: refused first, with the domain's message, then done.
    page.select_option("#status-form select[name=status]", "resolved")
    page.click("#status-form button[type=submit]")
    page.wait_for_selector("[data-testid=change-error]:has-text('needs a resolution summary')")
    page.select_option("#status-form select[name=status]", "resolved")
    page.fill("#status-form textarea[name=resolution]", "Printer restarted; queue cleared.")
    page.click("#status-form button[type=submit]")
    page.wait_for_selector("[data-testid=side-status]:has-text('Resolved')")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == (TicketStatus.RESOLVED, agent)

    # From the queue, a bulk action over HTMX: the table comes back with the tag, selection cleared.
    page.goto("/tickets/")
    page.check(f"#select-{ticket.pk}")
    page.select_option("#bulk-form select[name=action]", "tag")
    page.fill("#bulk-form input[name=tag]", "printing")
    page.click("#bulk-form fieldset button[type=submit]")
    page.wait_for_selector(f"#ticket-row-{ticket.pk} .chip:has-text('printing')")
    assert not page.is_checked(f"#select-{ticket.pk}")
    ticket.refresh_from_db()
    assert ticket.tags == ["printing"]

    # The requester signs in and reads the reply in the portal.
    page.click("text=Sign out")
    page.wait_for_url("**/accounts/login/**")
    sign_in(page, "rick.requester@example.com")
    page.click("nav >> text=My tickets")
    page.click(f"text={ticket.number}")
    page.wait_for_url(f"**/tickets/portal/{ticket.pk}/")
    assert (
        "Please restart the printer, then try again. Tray 2 too."
        in page.locator("#conversation").inner_text()
    )
    assert page.locator("#conversation [data-testid=edited]").count() == 1
    assert page.get_by_test_id("status").inner_text() == "Resolved"
    assert "Printer restarted; queue cleared." in page.get_by_test_id("resolution").inner_text()
