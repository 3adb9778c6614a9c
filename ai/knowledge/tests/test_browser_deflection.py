"""In Chromium: suggestions shown, the requester leaves, deflection.js sends one beacon (under the CSP)."""

import pytest
from allauth.account.models import EmailAddress

from ai.knowledge.models import DeflectionEvent
from itsm.models import Role, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-pass-2026"


def test_leaving_the_page_after_suggestions_counts_one_deflection(browser_page, make_article, minilm):
    article = make_article(
        "Reset your VPN token", "When the VPN says authentication failed:\n\n1. Open the portal."
    )
    user = User.objects.create_user(
        email="rita@example.com", password=PASSWORD, role=Role.USER, full_name="Rita"
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    page = browser_page
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")

    page.goto("/ai/kb/suggest/?q=VPN+authentication+failed")
    assert page.locator("#kb-suggestions a").first.inner_text() == article.title
    assert page.evaluate("window.kbDeflectionInstalled") is True  # the script ran under our CSP
    # What the browser does when the requester leaves (close the tab, follow a link): pagehide.
    with page.expect_response("**/ai/kb/deflection/") as beacon:
        page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide'))")
    assert (beacon.value.request.method, beacon.value.status) == ("POST", 201)
    page.goto("/home/")  # the real navigation away: the beacon was already sent, not twice
    (event,) = DeflectionEvent.objects.all()
    assert (event.user, event.article_ids) == (user, [article.pk])


def test_submitting_the_form_is_not_a_deflection(browser_page, make_article, minilm):
    """A page holding the suggestions inside its form: submitting it sends no beacon."""
    make_article("Reset your VPN token", "When the VPN says authentication failed:\n\n1. Open the portal.")
    user = User.objects.create_user(
        email="rita@example.com", password=PASSWORD, role=Role.USER, full_name="Rita"
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    page = browser_page
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/home/")
    page.goto("/ai/kb/suggest/?q=VPN+authentication+failed")
    # Wrap the suggestions in a form marked as the new-ticket form, as the portal page does; count
    # beacons instead of sending them, and keep the page when the form is submitted.
    page.evaluate("""() => {
        window.beacons = 0;
        navigator.sendBeacon = () => { window.beacons += 1; return true; };
        const form = document.createElement("form");
        form.dataset.kbDeflectionForm = "";
        form.addEventListener("submit", (event) => event.preventDefault());
        form.appendChild(document.querySelector("#kb-suggestions"));
        const button = document.createElement("button"); button.type = "submit"; button.id = "send";
        form.appendChild(button); document.body.appendChild(form);
    }""")
    page.click("#send")
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide'))")
    assert page.evaluate("window.beacons") == 0
    assert not DeflectionEvent.objects.exists()
