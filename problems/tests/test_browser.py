"""In Chromium: an agent edits a problem, writes a note, unlinks an incident; a candidate is
promoted; the page in English and French (screenshots in test-results/)."""

from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.db import connection

from itsm.models import Role, User
from problems import actions
from problems.models import Problem, RecurrenceCandidate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"
RESULTS = Path(__file__).resolve().parent.parent.parent / "test-results"


@pytest.fixture(autouse=True)
def _leave_no_queued_jobs():
    """Ticket signals queue work that nothing runs here; drop it after."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
        first_id = cursor.fetchone()[0]
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_periodic_defers WHERE job_id > %s", [first_id])
        cursor.execute("DELETE FROM procrastinate_jobs WHERE id > %s", [first_id])


def person(email: str, language: str = "en") -> User:
    user = User.objects.create_user(
        email=email,
        password=PASSWORD,
        role=Role.AGENT,
        full_name=email.split("@")[0].title(),
        language=language,
    )
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def in_french(page) -> None:
    """The interface language, as the language switcher sets it (a cookie)."""
    root = "/".join(page.url.split("/")[:3]) + "/"  # the cookie for the whole site, not this path
    page.context.add_cookies([{"name": "django_language", "value": "fr", "url": root}])


def sign_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")


def test_an_agent_edits_a_problem_writes_a_note_and_unlinks_an_incident(browser_page, make_ticket):
    agent = person("paula@example.com")
    first, second = make_ticket("Mail slow on floor 2"), make_ticket("Mail slow on floor 3")
    problem = actions.do_create_problem(actor=agent, title="Mail slow", incidents=[first, second])
    page = browser_page
    page.set_viewport_size({"width": 1300, "height": 1000})
    sign_in(page, agent.email)
    page.goto(f"/problems/{problem.pk}/")
    form = page.locator("#problem-edit")
    form.locator("input[name=title]").fill("Mail slow: Exchange queue")
    form.locator("select[name=status]").select_option("investigating")
    form.locator("select[name=priority]").select_option("high")
    form.locator("select[name=owner]").select_option(str(agent.pk))
    form.locator("textarea[name=root_cause]").fill("The transport queue fills up")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "Mail slow: Exchange queue" in page.locator("h1").inner_text()
    page.locator("#timeline textarea[name=body]").fill("Opened a case with Microsoft")
    page.locator("#timeline button[type=submit]").click()
    page.wait_for_load_state()
    timeline = page.locator("#timeline").inner_text()
    assert "Opened a case with Microsoft" in timeline and "Changed title" in timeline
    page.locator("#problem-incidents li", has_text=second.number).get_by_role("button", name="Unlink").click()
    page.wait_for_load_state()
    assert second.number not in page.locator("#problem-incidents ul").inner_text()
    problem.refresh_from_db()
    assert (problem.status, problem.priority, problem.owner) == ("investigating", "high", agent)
    assert problem.links.count() == 1
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "problem-edit-en.png"), full_page=True)

    in_french(page)
    page.goto(f"/problems/{problem.pk}/")
    assert "Historique et notes" in page.locator("#timeline").inner_text()
    page.screenshot(path=str(RESULTS / "problem-edit-fr.png"), full_page=True)


def test_an_agent_promotes_a_candidate(browser_page, make_ticket, settings):
    settings.PROBLEM_AUTO_CREATE = False
    agent = person("pat@example.com")
    incidents = [
        make_ticket(title)
        for title in (
            "VPN disconnects every hour",
            "VPN disconnects every hour again",
            "VPN disconnects every hour on wifi",
        )
    ]
    actions.do_detect_recurrences()
    candidate = RecurrenceCandidate.objects.get()
    page = browser_page
    sign_in(page, agent.email)
    page.goto("/problems/candidates/")
    row = page.locator(f"#candidate-{candidate.pk}")
    assert incidents[0].number in row.inner_text()
    row.get_by_role("button", name="Promote").click()
    page.wait_for_url("**/problems/*/")
    problem = Problem.objects.get()
    assert problem.number in page.locator("h1").inner_text()
    assert sorted(link.ticket_id for link in problem.links.all()) == sorted(t.pk for t in incidents)
