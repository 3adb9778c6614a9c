"""The copilot in Chromium: asked on a ticket page and on its own page (English and French),
a proposal confirmed in one click, the trace of the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from ai.copilot.models import CopilotRun
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESULTS = Path(__file__).resolve().parent.parent / "test-results"


@pytest.fixture(autouse=True)
def _leave_no_queued_jobs():
    """The demo queues work on the ticket signals; nothing runs it here, so drop it after."""
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
    page.fill("input[name=password]", "demo-pass-2026")
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")


def test_an_agent_asks_on_the_ticket_page_and_confirms_a_proposal(browser_page, live_server):
    from sla.defaults import ensure_defaults

    ensure_defaults()
    call_command("seed_demo", verbosity=0)
    ticket = Ticket.objects.get(metadata__demo=True, title="ERP crashes when exporting invoices")
    page = browser_page
    page.set_viewport_size({"width": 1300, "height": 1000})
    sign_in(page, "agent@demo.example")
    page.goto(f"/tickets/{ticket.pk}/")
    panel = page.get_by_test_id("copilot-panel")
    question = panel.locator("textarea[name=question]")
    question.focus()  # keyboard reachable
    page.keyboard.type("Why is this ticket at risk?")
    page.evaluate("document.body.dataset.marker = 'kept'")
    panel.get_by_test_id("copilot-ask").click()
    answer = panel.get_by_test_id("copilot-text")
    answer.wait_for()
    assert f"{ticket.number} resolution clock" in answer.inner_text()
    assert page.evaluate("document.body.dataset.marker") == "kept"  # swapped in, not reloaded
    question = page.get_by_test_id("copilot-panel").locator("textarea[name=question]")
    question.fill("Assign this ticket to Sam")
    page.get_by_test_id("copilot-panel").get_by_test_id("copilot-ask").click()
    page.get_by_test_id("copilot-accept").click()
    page.get_by_test_id("copilot-proposal-decision").wait_for()
    ticket.refresh_from_db()
    assert ticket.assignee.email == "sam@demo.example"
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "copilot-ticket-en.png"), full_page=True)

    # The copilot page, then the run's trace.
    page.goto("/ai/copilot/")
    page.fill("textarea[name=question]", "What are Sam's open critical tickets?")
    page.get_by_test_id("copilot-ask").click()
    page.get_by_test_id("copilot-text").wait_for()
    assert "Website down for customers" in page.get_by_test_id("copilot-text").inner_text()
    page.screenshot(path=str(RESULTS / "copilot-page-en.png"), full_page=True)
    run = CopilotRun.objects.order_by("-id").first()
    page.goto(f"/ai/copilot/runs/{run.pk}/")
    assert "search_tickets" in page.get_by_test_id("copilot-steps").inner_text()

    # In French.
    context = page.context.browser.new_context(base_url=live_server.url, locale="fr-FR")
    french = context.new_page()
    try:
        sign_in(french, "agent@demo.example")
        french.goto("/ai/copilot/")
        french.fill("textarea[name=question]", "MTTR for Network this week vs last?")
        french.get_by_test_id("copilot-ask").click()
        french.get_by_test_id("copilot-text").wait_for()
        assert french.get_by_test_id("copilot-ask").inner_text() == "Demander"
        french.screenshot(path=str(RESULTS / "copilot-page-fr.png"), full_page=True)
    finally:
        context.close()
