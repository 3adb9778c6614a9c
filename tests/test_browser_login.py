import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_demo_agent_signs_in_and_sees_the_landing_page(browser_page):
    call_command("seed_demo", verbosity=0)
    page = browser_page
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "agent@demo.example")
    page.fill("input[name=password]", "demo-pass-2026")
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")
    assert page.get_by_test_id("landing-title").inner_text() == "Welcome, Alex"
    # htmx loaded from our static files under the CSP
    assert page.evaluate("typeof window.htmx") == "object"
