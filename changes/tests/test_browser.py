"""In Chromium: the change calendar with a conflict, and a team lead approving a change from
its page (the approvals card, over HTMX); English and French (screenshots in test-results/)."""

from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.db import connection
from playwright.sync_api import expect

from changes import actions
from changes.models import ChangeStatus
from changes.tests.conftest import at
from cmdb import actions as cmdb_actions
from itsm.models import Role, Team, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"
RESULTS = Path(__file__).resolve().parent.parent.parent / "test-results"


@pytest.fixture(autouse=True)
def _leave_no_queued_jobs():
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
        first_id = cursor.fetchone()[0]
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_periodic_defers WHERE job_id > %s", [first_id])
        cursor.execute("DELETE FROM procrastinate_jobs WHERE id > %s", [first_id])


def person(email: str) -> User:
    user = User.objects.create_user(
        email=email, password=PASSWORD, role=Role.AGENT, full_name=email.split("@")[0].title()
    )
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def sign_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")


def in_french(page) -> None:
    root = "/".join(page.url.split("/")[:3]) + "/"  # the cookie for the whole site, not this path
    page.context.add_cookies([{"name": "django_language", "value": "fr", "url": root}])


@pytest.fixture
def desk():
    agent, lead = person("andy@example.com"), person("lena@example.com")
    team = Team.objects.create(name="Infrastructure", lead=lead)
    team.members.add(agent, lead)
    item = cmdb_actions.do_create_item(actor=None, name="db-01", type="server")
    return agent, lead, team, item


def plan(agent, team, title, start, end, **fields):
    change = actions.do_create_change(
        actor=agent,
        title=title,
        team=team,
        planned_start=start,
        planned_end=end,
        implementation_plan="Do it.",
        backout_plan="Undo it.",
        **fields,
    )
    return actions.do_transition_change(change, "assess", actor=agent)


def test_the_calendar_shows_the_week_with_its_conflicts(browser_page, desk):
    agent, _lead, team, item = desk
    first = plan(agent, team, "Patch db-01", at(1, 10), at(1, 12), affected_items=[item])
    second = plan(agent, team, "Resize db-01", at(1, 11), at(1, 13), affected_items=[item])
    quiet = plan(agent, team, "Rotate web logs", at(2, 1), at(2, 2), type="standard")
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, agent.email)
    page.goto(f"/changes/calendar/?date={at(1, 0).date().isoformat()}")
    for change in (first, second, quiet):
        assert page.get_by_test_id(f"calendar-{change.number}").is_visible()
    assert "⚠" in page.get_by_test_id(f"calendar-{first.number}").inner_text()
    assert "⚠" not in page.get_by_test_id(f"calendar-{quiet.number}").inner_text()
    assert page.get_by_test_id("conflict-count").inner_text() == "2 changes in conflict"
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "change-calendar-en.png"), full_page=True)
    page.get_by_role("link", name="Month").click()
    expect(page.locator("table.change-calendar")).to_have_attribute("data-view", "month")  # once loaded
    page.get_by_test_id(f"calendar-{first.number}").click()
    page.wait_for_url(f"**/changes/{first.pk}/")
    assert second.number in page.locator("#change-conflicts").inner_text()
    in_french(page)
    page.goto(f"/changes/calendar/?date={at(1, 0).date().isoformat()}")
    assert "Calendrier des changements" in page.locator("h1").inner_text()
    assert page.get_by_test_id("conflict-count").inner_text() == "2 changements en conflit"
    page.screenshot(path=str(RESULTS / "change-calendar-fr.png"), full_page=True)


def test_a_team_lead_approves_a_change_from_its_page(browser_page, desk):
    agent, lead, team, item = desk
    change = plan(agent, team, "Patch db-01", at(1, 10), at(1, 12), affected_items=[item])
    change = actions.do_transition_change(change, "authorize", actor=agent)
    page = browser_page
    page.set_viewport_size({"width": 1300, "height": 1000})
    sign_in(page, lead.email)
    page.goto(f"/changes/{change.pk}/")
    card = page.locator("article.approval")
    card.locator("textarea[name=comment]").fill("Fine after the backup")
    with page.expect_response("**/approve/") as answer:
        card.locator("[data-testid^=approve-]").click()
    assert answer.value.status == 200
    expect(page.locator("article.approval h3")).to_contain_text("Approved")  # once htmx swapped it
    change.refresh_from_db()
    assert change.status == ChangeStatus.SCHEDULED
    page.reload()
    assert page.get_by_test_id("change-status").inner_text() == "Scheduled"
    page.screenshot(path=str(RESULTS / "change-approved-en.png"), full_page=True)
