"""In Chromium: single sign-on from the sign-in page, and one's API token made and revoked."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialApp

from conftest import PASSWORD, make_user
from itsm.models import ApiToken, Role, User
from itsm.security.tests.fakeoidc import CLIENT_ID, CLIENT_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_person_signs_in_with_single_sign_on_in_the_browser(browser_page, oidc):
    SocialApp.objects.create(
        provider="openid_connect",
        provider_id="sso",
        name="Company SSO",
        client_id=CLIENT_ID,
        secret=CLIENT_SECRET,
        settings={"server_url": oidc.issuer, "role_map": {"desk": "agent"}},
    )
    oidc.signed_in["groups"] = ["desk"]
    page = browser_page
    page.goto("/accounts/login/")
    # The page's CSP lets the button's redirect reach the identity provider.
    policy = page.evaluate(
        "() => fetch('/accounts/login/').then(r => r.headers.get('content-security-policy'))"
    )
    assert f"form-action 'self' {oidc.issuer}" in policy
    page.click("text=Sign in with Company SSO")
    page.wait_for_url("**/home/")
    assert page.locator("[data-testid=landing-title]").inner_text() == "Welcome, Nina"
    assert User.objects.get(email="nina.sso@example.com").role == Role.AGENT


def test_a_requester_makes_and_revokes_a_token_in_the_browser(browser_page):
    from allauth.account.models import EmailAddress

    user = make_user("rita.requester@example.com", Role.USER, full_name="Rita Requester")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    page = browser_page
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/accounts/login/'] button[type=submit]")
    page.wait_for_url("**/home/")
    page.click("text=API tokens")
    page.fill("input[name=name]", "My laptop script")
    page.check("input[name=scope][value=read]")
    page.click("text=Create token")
    key = page.locator("[data-testid=new-key]").inner_text()
    token = ApiToken.objects.get(user=user)
    assert ApiToken.hash_key(key) == token.digest
    page.click(f"#token-{token.pk} >> text=Revoke")
    page.locator(f"#token-{token.pk} >> text=Revoked").wait_for()
    token.refresh_from_db()
    assert token.is_revoked
