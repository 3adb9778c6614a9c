"""End to end in Chromium: an agent applies a macro with its preview, merges two tickets, and
works the queue and the ticket page from the keyboard. Screenshots go to test-results/."""

from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.db import connection

from itsm.models import Organisation, Role, Team, User
from tickets.actions import (
    do_add_comment,
    do_add_relation,
    do_create_ticket,
    do_log_work,
    do_save_macro,
    do_transition_ticket,
)
from tickets.actions.csat import survey_token
from tickets.models import Comment, Macro, SatisfactionSurvey, Ticket, TicketStatus

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


def test_the_queue_and_the_ticket_page_work_from_the_keyboard(browser_page, desk):
    page, target, source = browser_page, desk["target"], desk["source"]
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, "ana.agent@example.com")
    page.goto("/tickets/?sort=number")
    page.wait_for_selector("#ticket-queue tbody tr")
    page.keyboard.press("j")
    first = page.locator("#ticket-queue tr.kb-current")
    assert target.number in first.inner_text()
    page.keyboard.press("j")
    assert source.number in page.locator("#ticket-queue tr.kb-current").inner_text()
    page.keyboard.press("k")
    page.keyboard.press("x")
    assert page.is_checked(f"#select-{target.pk}")
    page.keyboard.press("x")
    # "a" assigns the current ticket to me (the bulk form, without a page load)
    page.keyboard.press("a")
    page.wait_for_selector(f"#ticket-row-{target.pk} td:has-text('Ana Agent')")
    assert Ticket.objects.get(pk=target.pk).assignee == desk["agent"]
    # "/" goes to the search box; typing there never fires a shortcut
    page.keyboard.press("/")
    page.keyboard.type("jkx")
    assert page.input_value(".filters input[name=search]") == "jkx"
    page.fill(".filters input[name=search]", "")
    page.locator("body").click(position={"x": 5, "y": 300})
    # "?" lists the shortcuts, Escape closes the list
    page.keyboard.press("?")
    page.wait_for_selector("#shortcut-help[open]")
    shot(page, "shortcuts-1400.png")
    page.keyboard.press("Escape")
    page.wait_for_selector("#shortcut-help:not([open])", state="attached")
    # "j" then "o" opens the current ticket
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(f"**/tickets/{target.pk}/")
    # on the ticket page: n writes a note, r a reply, m the macro search, s the status
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.name") == "body" and page.is_checked(
        "#reply-form [name=internal]"
    )
    page.keyboard.type("nrms stays text")
    assert page.input_value("#reply-form textarea[name=body]") == "nrms stays text"
    page.locator("h1").click()
    page.keyboard.press("r")
    assert not page.is_checked("#reply-form [name=internal]")
    page.locator("h1").click()
    page.keyboard.press("m")
    assert page.evaluate("document.activeElement.id") == "macro-search"
    page.locator("h1").click()
    page.keyboard.press("s")
    assert page.evaluate("document.activeElement.name") == "status"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_screenshots_of_the_changed_pages(browser_page, desk, language):
    """The pages this work changed, in both languages (test-results/*-en.png, *-fr.png)."""
    page, target, source = browser_page, desk["target"], desk["source"]
    agent = desk["agent"]
    agent.language = language
    agent.save()
    do_log_work(target, actor=agent, minutes=35, note="Remote session", billable=True)
    do_add_relation(target, target=source, kind="parent_of", actor=agent)
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, "ana.agent@example.com")
    with page.expect_navigation():
        page.select_option("#language-select", language)  # the switch submits itself
    page.goto(f"/tickets/{target.pk}/")
    page.wait_for_selector("#time")
    page.click("[data-testid=macro-preview-button]")
    page.wait_for_selector("[data-testid=macro-body]")
    shot(page, f"ticket-page-{language}.png")
    page.goto("/tickets/")
    page.wait_for_selector("[data-testid=export-form]")
    shot(page, f"queue-{language}.png")
    page.goto("/tickets/time/")
    shot(page, f"time-report-{language}.png")
    do_transition_ticket(target, TicketStatus.RESOLVED, actor=agent, resolution="Profile replaced")
    page.goto(f"/tickets/survey/{survey_token(SatisfactionSurvey.objects.get(ticket=target))}/")
    shot(page, f"survey-{language}.png")
