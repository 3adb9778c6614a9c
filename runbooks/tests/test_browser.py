"""In Chromium: an agent runs a runbook from a ticket in ``hil`` mode, the team lead approves
on the ticket page, the worker runs it against the real SSH server, the panel follows the
steps live (HTMX polling) and the ticket's timeline shows the outcome."""

from __future__ import annotations

import threading

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from conftest import PASSWORD
from runbooks.models import ExecutionStatus, RunbookExecution, RunbookSettings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEPS = [
    {
        "name": "Stop",
        "type": "ssh",
        "command": "echo stopped {service}",
        "rollback": {"command": "echo started"},
    },
    {"name": "Clear the cache", "type": "ssh", "command": "echo cleared"},
    {"name": "Start", "type": "ssh", "command": "echo started {service}", "check": {"contains": "started"}},
]


def sign_in(page, user) -> None:
    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    # Leave the page first: its timers (presence, panels) could answer after the cookies are
    # cleared with a new CSRF cookie that no longer matches the sign-in form's token.
    page.goto("about:blank")
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_a_hil_run_from_the_ticket(
    browser_page, agent, lead, incident, ssh_connection, make_runbook, ssh_server, run_worker, live_server
):
    ssh_server.clear()
    runbook = make_runbook(STEPS, parameters=[{"name": "service", "type": "string", "default": "nginx"}])
    page = browser_page
    sign_in(page, agent)
    page.goto(f"/tickets/{incident.pk}/")
    panel = page.locator("[data-testid=runbooks-panel]")
    expect(panel.locator("[data-testid=runbook-match]")).to_contain_text("Restart a service")
    panel.locator("[data-testid=param-service]").fill("apache2")
    with page.expect_response(f"**/runbooks/tickets/{incident.pk}/run/{runbook.pk}/") as answer:
        panel.locator(f"[data-testid=run-runbook-{runbook.pk}]").click()
    assert answer.value.request.headers.get("hx-request") == "true"
    expect(panel.locator("[data-testid=execution-status]")).to_have_text("Waiting for approval")
    execution = RunbookExecution.objects.get()
    assert ssh_server.commands == []  # nothing runs before the approval

    # The lead in a browser of their own: the agent's page polls the execution, and a poll
    # answered after the agent's cookies were cleared would set them again in a shared browser
    # (the lead's sign-in then failed its CSRF check, now and then).
    page = page.context.browser.new_context(base_url=live_server.url).new_page()
    page.set_default_timeout(15_000)
    sign_in(page, lead)
    page.goto(f"/tickets/{incident.pk}/")
    panel = page.locator("[data-testid=runbooks-panel]")
    panel.locator(f"[data-testid=decision-comment-{execution.pk}]").fill("Go ahead")
    panel.locator(f"[data-testid=approve-execution-{execution.pk}]").click()
    expect(panel.locator("[data-testid=execution-status]")).to_have_text("Queued")

    # The worker, while the page keeps polling (in a thread: Playwright's loop owns this one).
    worker = threading.Thread(target=run_worker, kwargs={"queues": ["runbooks"]})
    worker.start()
    worker.join(60)
    expect(panel.locator("[data-testid=execution-status]")).to_have_text("Succeeded", timeout=15_000)
    expect(panel.locator("[data-testid=runbook-step][data-status=succeeded]")).to_have_count(3)
    expect(page.locator("#ticket-timeline")).to_contain_text(
        "Runbook “Restart a service”: Succeeded.", timeout=15_000
    )
    page.screenshot(path="var/runbooks-ticket.png", full_page=True)
    page.goto(f"/runbooks/executions/{execution.pk}/")
    expect(page.locator("[data-testid=runbook-step]")).to_have_count(3)
    expect(page.locator("[data-testid=rollback-status]").first).to_have_text("Not needed")
    page.screenshot(path="var/runbooks-execution.png", full_page=True)
    assert RunbookExecution.objects.get().status == ExecutionStatus.SUCCEEDED
    assert ssh_server.commands == ["echo stopped apache2", "echo cleared", "echo started apache2"]


def test_an_admin_switches_to_auto_on_the_settings_page_in_french(
    browser_page, admin_user, live_server, settings
):
    page = browser_page
    sign_in(page, admin_user)
    page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "fr", "url": live_server.url}])
    page.goto("/runbooks/settings/")
    expect(page.locator("h1")).to_have_text("Réglages des runbooks")
    page.get_by_label("Automatique si confiant, sûr et autorisé ; sinon approbation").check()
    page.fill("input[name=threshold]", "0.9")
    page.click("[data-testid=runbook-settings-form] button[type=submit]")
    expect(page.locator(".message.success, [role=status]").first).to_contain_text(
        "Réglages des runbooks enregistrés"
    )
    page.screenshot(path="var/runbooks-settings-fr.png", full_page=True)
    row = RunbookSettings.load()
    assert (row.mode, row.threshold) == ("auto", 0.9)
