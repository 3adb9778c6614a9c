"""Enforced two-factor authentication for admins and agents, and its reset by an admin."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.usersessions.models import UserSession
from django.urls import reverse

from conftest import PASSWORD
from itsm.security.models import SecurityAction, SecurityEvent
from itsm.security.tests.conftest import password_sign_in, save_settings, signed_in_user_id, sso_sign_in

pytestmark = pytest.mark.django_db


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def set_up_totp(client) -> None:
    """Go through allauth's set-up as the user would: password again, then a code."""
    client.get(reverse("mfa_activate_totp"))
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    client.get(reverse("mfa_activate_totp"))
    response = client.post(
        reverse("mfa_activate_totp"), {"code": current_code(client.session["mfa.totp.secret"])}
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("policy", "persona", "forced"),
    [
        ("staff", "agent", True),
        ("staff", "admin_user", True),
        ("staff", "requester", False),
        ("staff", "viewer", False),
        ("admins", "admin_user", True),
        ("admins", "agent", False),
        ("nobody", "admin_user", False),
    ],
)
def test_who_is_sent_to_set_up_two_factor(client, request, policy, persona, forced):
    save_settings(two_factor_required_for=policy)
    user = request.getfixturevalue(persona)
    password_sign_in(client, user)
    response = client.get(reverse("home"))
    if forced:
        assert response.status_code == 302
        assert response["Location"] == reverse("mfa_activate_totp")
    else:
        assert response.status_code == 200


def test_only_the_set_up_sign_out_and_language_stay_open(client, agent):
    save_settings(two_factor_required_for="staff")
    password_sign_in(client, agent)
    for url in [reverse("home"), reverse("security:tokens"), reverse("itsm:notification-list"), "/tickets/"]:
        assert client.get(url)["Location"] == reverse("mfa_activate_totp"), url
    response = client.get("/api/me/")
    assert response.status_code == 403
    assert "two-factor" in response.json()["detail"]
    fragment = client.get(reverse("itsm:notification-bell"), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 204
    assert fragment["HX-Redirect"] == reverse("mfa_activate_totp")
    assert client.get(reverse("mfa_index")).status_code == 200
    assert client.get(reverse("mfa_activate_totp")).status_code in (200, 302)
    assert client.post(reverse("set_language"), {"language": "fr", "next": "/"}).status_code == 302
    assert client.post(reverse("account_logout")).status_code == 302
    assert signed_in_user_id(client) is None


def test_after_setting_up_totp_the_agent_works_and_has_recovery_codes(client, agent):
    save_settings(two_factor_required_for="staff")
    password_sign_in(client, agent)
    set_up_totp(client)
    assert client.get(reverse("home")).status_code == 200
    assert set(Authenticator.objects.filter(user=agent).values_list("type", flat=True)) == {
        "totp",
        "recovery_codes",
    }
    codes = client.get(reverse("mfa_view_recovery_codes"))
    assert codes.status_code == 200
    # The next sign-in asks for the code (allauth's stage), then lets the agent in.
    client.post(reverse("account_logout"))
    step = password_sign_in(client, agent)
    assert step["Location"] == reverse("mfa_authenticate")
    assert signed_in_user_id(client) is None


def test_api_tokens_are_not_affected(agent, api_for):
    """A token is its own credential, issued by a signed-in (so two-factor-checked) person."""
    save_settings(two_factor_required_for="staff")
    assert api_for(agent).get("/api/me/").status_code == 200


def test_a_single_sign_on_counts_as_two_factor_when_trusted(client, oidc, sso_app, agent):
    save_settings(two_factor_required_for="staff", two_factor_trusts_sso=True)
    oidc.signed_in.update(email=agent.email, groups=["itsm-agents"])
    sso_sign_in(client)
    assert client.get(reverse("home")).status_code == 200


def test_a_single_sign_on_does_not_count_when_not_trusted(client, oidc, sso_app, agent):
    save_settings(two_factor_required_for="staff", two_factor_trusts_sso=False)
    oidc.signed_in.update(email=agent.email, groups=["itsm-agents"])
    sso_sign_in(client)
    assert client.get(reverse("home"))["Location"] == reverse("mfa_activate_totp")


def test_an_admin_resets_a_users_two_factor_with_an_audit(client, admin_user, agent):
    from django.test import Client

    agents_browser = Client()
    password_sign_in(agents_browser, agent)
    set_up_totp(agents_browser)
    assert UserSession.objects.filter(user=agent).exists()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:itsm_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [agent.pk]},
        REMOTE_ADDR="203.0.113.20",
    )
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=agent).exists()
    # The agent's sessions were ended: the lost phone's holder is signed out too.
    assert agents_browser.get(reverse("home")).status_code == 302
    assert not UserSession.objects.filter(user=agent).exists()
    event = SecurityEvent.objects.get(action=SecurityAction.TWO_FACTOR_RESET)
    assert (event.actor_id, event.ip, event.target_id) == (admin_user.pk, "203.0.113.20", str(agent.pk))
    assert event.before == {"authenticators": ["recovery_codes", "totp"]}


def test_authenticators_cannot_be_deleted_behind_the_audit(client, admin_user, agent):
    Authenticator.objects.create(user=agent, type="totp", data={"secret": "x"})
    client.force_login(admin_user)
    authenticator = Authenticator.objects.get(user=agent)
    assert client.get(reverse("admin:mfa_authenticator_delete", args=[authenticator.pk])).status_code == 403
    page = client.get(reverse("admin:mfa_authenticator_change", args=[authenticator.pk])).content.decode()
    assert '"secret"' not in page


def test_non_admins_cannot_reset_two_factor(client, agent, other_agent):
    Authenticator.objects.create(user=other_agent, type="totp", data={"secret": "x"})
    client.force_login(agent)
    response = client.post(
        reverse("admin:itsm_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [other_agent.pk]},
    )
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert Authenticator.objects.filter(user=other_agent).exists()


def test_the_admin_site_signs_in_through_the_site_so_two_factor_applies(client, admin_user):
    """Django's own admin sign-in form would skip two-factor, SSO policy and the sign-in log."""
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next=/admin/"
    posted = client.post("/admin/login/", {"username": admin_user.email, "password": PASSWORD})
    assert posted.status_code == 302
    assert signed_in_user_id(client) is None
