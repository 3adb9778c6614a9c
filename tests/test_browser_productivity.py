"""End to end in Chromium: an agent applies a macro with its preview, merges two tickets, and
works the queue and the ticket page from the keyboard. Screenshots go to test-results/."""

from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.db import connection

from itsm.models import Organisation, Role, Team, User
from tickets.actions import do_add_comment, do_create_ticket, do_save_macro
from tickets.models import Comment, Macro, Ticket, TicketStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"
RESULTS = Path(__file__).resolve().parent.parent / "test-results"


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


@pytest.fixture
def desk():
    team = Team.objects.create(name="Service Desk")
    agent = make_user("ana.agent@example.com", Role.AGENT, "Ana Agent")
    team.members.add(agent)
    acme = Organisation.objects.create(name="Acme")
    rick = make_user("rick.requester@example.com", Role.USER, "Rick Requester", organisation=acme)
    rosa = make_user("rosa.requester@example.com", Role.USER, "Rosa Requester", organisation=acme)
    target = do_create_ticket(actor=agent, title="Outlook cannot connect", requester=rick, team=team)
    source = do_create_ticket(actor=agent, title="Mail is down for me too", requester=rosa, team=team)
    do_add_comment(source, actor=rosa, body="Still down after a restart.")
    do_save_macro(
        None,
        {
            "name": "Ask for the mail logs",
            "body": "Hello {{ requester.first_name }}, could you send the Outlook logs for {{ ticket.number }}?\n{{ agent.full_name }}",
            "set_status": "pending_customer",
            "add_tags": ["mail"],
        },
        actor=agent,
    )
    do_save_macro(None, {"name": "Thanks", "body": "Thank you!"}, actor=agent)
    return {"team": team, "agent": agent, "target": target, "source": source}


def sign_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")


def shot(page, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / name), full_page=True)


def test_an_agent_applies_a_macro_after_previewing_it(browser_page, desk):
    page, target = browser_page, desk["target"]
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, "ana.agent@example.com")
    page.goto(f"/tickets/{target.pk}/")
    # The search box narrows the picker; the preview comes without a page load.
    page.fill("#macro-search", "logs")
    assert page.input_value("#macro-select") == str(Macro.objects.get(name="Ask for the mail logs").pk)
    page.click("[data-testid=macro-preview-button]")
    body = page.wait_for_selector("[data-testid=macro-body]")
    assert body.input_value().startswith(f"Hello Rick, could you send the Outlook logs for {target.number}?")
    assert "Pending customer" in page.inner_text("[data-testid=macro-changes]")
    shot(page, "macro-preview-1400.png")
    assert not Comment.objects.filter(ticket=target).exists()  # a preview changes nothing
    page.fill("[data-testid=macro-body]", "Hello Rick, please send the Outlook logs (File > Support).")
    page.click("[data-testid=macro-apply]")
    page.wait_for_selector("#ticket-timeline [data-testid=reply]:has-text('please send the Outlook logs')")
    page.wait_for_selector("[data-testid=side-status]:has-text('Pending customer')")
    target.refresh_from_db()
    assert target.status == TicketStatus.PENDING_CUSTOMER and target.tags == ["mail"]
    assert Macro.objects.get(name="Ask for the mail logs").usage_count == 1
    shot(page, "macro-applied-1400.png")


def test_an_agent_merges_a_ticket_after_reading_what_moves(browser_page, desk):
    page, target, source = browser_page, desk["target"], desk["source"]
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, "ana.agent@example.com")
    page.goto(f"/tickets/{target.pk}/")
    page.fill("[data-testid=merge-sources]", source.number)
    page.click("[data-testid=merge-check]")
    page.wait_for_selector("[data-testid=merge-plan]")
    assert source.number in page.inner_text("[data-testid=merge-plan]")
    shot(page, "merge-confirm-1400.png")
    assert Ticket.objects.get(pk=source.pk).status == TicketStatus.NEW  # nothing yet
    page.click("[data-testid=merge-confirm]")
    page.wait_for_url(f"**/tickets/{target.pk}/")
    page.wait_for_selector(f"[data-testid=merged-from]:has-text('{source.number}')")
    assert "Still down after a restart." in page.inner_text("#ticket-timeline")
    assert Ticket.objects.get(pk=source.pk).status == TicketStatus.CLOSED
    shot(page, "merge-done-1400.png")
