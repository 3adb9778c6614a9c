"""Single sign-on through OpenID Connect, against a local identity provider started by the tests."""

from __future__ import annotations

import json

import pytest
import requests
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.urls import reverse

from conftest import PASSWORD
from itsm.models import Role, Team, User
from itsm.security.models import FailureReason, SecurityAction, SecurityEvent, SignInEvent, SignInMethod
from itsm.security.tests.conftest import (
    follow_callback,
    password_sign_in,
    save_settings,
    signed_in_user_id,
    sso_sign_in,
)
from itsm.security.tests.fakeoidc import CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.django_db


def test_a_new_person_signs_in_and_is_created_as_a_requester(client, oidc, sso_app):
    response = sso_sign_in(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = User.objects.get(email="nina.sso@example.com")
    assert user.role == Role.USER
    assert user.full_name == "Nina Single"
    assert not user.has_usable_password()
    assert signed_in_user_id(client) == str(user.pk)
    assert SocialAccount.objects.get(user=user).uid == "u-1001"
    event = SignInEvent.objects.get(user=user)
    assert (event.method, event.result) == (SignInMethod.SSO, "success")
    # PKCE: the token request carried the verifier of the challenge the provider checked.
    assert oidc.token_requests[-1]["code_verifier"]
    assert client.get(reverse("home")).status_code == 200


def test_groups_give_the_role_and_teams_at_every_sign_on(client, oidc, sso_app, team, other_team):
    oidc.signed_in["groups"] = ["itsm-agents", "itsm-network"]
    sso_sign_in(client)
    user = User.objects.get(email="nina.sso@example.com")
    assert user.role == Role.AGENT
    assert set(user.teams.values_list("name", flat=True)) == {"Network"}
    assert SecurityEvent.objects.filter(action=SecurityAction.ROLE_CHANGED, target_id=str(user.pk)).exists()

    # Moved to the admins and the desk in the identity provider: the next sign-on follows.
    client.post(reverse("account_logout"))
    oidc.signed_in["groups"] = ["itsm-admins", "itsm-desk", "unrelated-group"]
    sso_sign_in(client)
    user.refresh_from_db()
    assert user.role == Role.ADMIN
    assert user.is_staff
    assert set(user.teams.values_list("name", flat=True)) == {"Service Desk"}
    change = SecurityEvent.objects.filter(action=SecurityAction.ROLE_CHANGED, target_id=str(user.pk)).first()
    assert change.actor_label == "system:sso"
    assert change.before["role"] == "agent" and change.after["role"] == "admin"

    # Out of every mapped group: back to requester, out of the mapped teams.
    client.post(reverse("account_logout"))
    oidc.signed_in["groups"] = []
    sso_sign_in(client)
    user.refresh_from_db()
    assert user.role == Role.USER
    assert not user.teams.exists()


def test_teams_outside_the_mapping_are_left_alone(client, oidc, sso_app, team):
    sso_sign_in(client)
    user = User.objects.get(email="nina.sso@example.com")
    support = Team.objects.create(name="Field support")
    support.members.add(user)
    client.post(reverse("account_logout"))
    sso_sign_in(client)
    assert set(user.teams.values_list("name", flat=True)) == {"Field support"}


def test_an_existing_account_is_joined_by_a_verified_email(client, oidc, sso_app, agent):
    oidc.signed_in.update(email=agent.email, groups=["itsm-agents"])
    before = User.objects.count()
    response = sso_sign_in(client)
    assert response.status_code == 302
    assert User.objects.count() == before
    assert signed_in_user_id(client) == str(agent.pk)
    assert SocialAccount.objects.get(user=agent).uid == "u-1001"


def test_an_unconfirmed_email_never_joins_an_existing_account(client, oidc, sso_app, agent):
    oidc.signed_in.update(email=agent.email, email_verified=False)
    response = sso_sign_in(client)
    assert response.status_code == 403
    assert "did not confirm the address" in response.content.decode()
    assert signed_in_user_id(client) is None
    assert not SocialAccount.objects.exists()
    agent.refresh_from_db()
    assert agent.check_password(PASSWORD)
    event = SignInEvent.objects.get(method=SignInMethod.SSO)
    assert (event.result, event.reason, event.email) == ("failure", FailureReason.SSO_REFUSED, agent.email)


def test_trust_email_joins_for_providers_without_email_verified(client, oidc, sso_app, agent):
    """Entra ID sends no email_verified claim: ``trust_email`` says the tenant owns the domain."""
    sso_app.settings = {**sso_app.settings, "trust_email": True}
    sso_app.save()
    oidc.signed_in.update(email=agent.email)
    oidc.signed_in.pop("email_verified")
    sso_sign_in(client)
    assert signed_in_user_id(client) == str(agent.pk)


def test_no_email_claim_is_refused(client, oidc, sso_app):
    oidc.signed_in.pop("email")
    response = sso_sign_in(client)
    assert response.status_code == 403
    assert "no email address" in response.content.decode()
    assert not User.objects.exists()


def assert_refused_and_nothing_created(client, response, users_before: int) -> None:
    assert response.status_code in (401, 403)
    assert signed_in_user_id(client) is None
    assert User.objects.count() == users_before
    assert not SocialAccount.objects.exists()
    failure = SignInEvent.objects.get(method=SignInMethod.SSO)
    assert failure.result == "failure"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"aud": "another-client"}, id="wrong-audience"),
        pytest.param({"exp": 1_600_000_000, "iat": 1_599_999_000}, id="expired"),
        pytest.param({"iss": "https://evil.example.com"}, id="wrong-issuer"),
        pytest.param({"nonce": "not-the-nonce-we-sent"}, id="wrong-nonce"),
    ],
)
def test_a_bad_id_token_is_refused_and_creates_no_one(client, oidc, sso_app, changes):
    oidc.id_token_changes = changes
    before = User.objects.count()
    response = sso_sign_in(client)
    assert_refused_and_nothing_created(client, response, before)


def test_a_token_signed_with_another_key_is_refused(client, oidc, sso_app):
    oidc.sign_with_wrong_key = True
    before = User.objects.count()
    response = sso_sign_in(client)
    assert_refused_and_nothing_created(client, response, before)


def test_a_callback_with_another_state_is_refused(client, oidc, sso_app):
    start = client.post("/accounts/oidc/sso/login/")
    authorize = requests.get(start["Location"], allow_redirects=False, timeout=10)
    location = authorize.headers["Location"]
    state = location.split("state=")[1].split("&")[0]
    before = User.objects.count()
    response = follow_callback(client, location.replace(f"state={state}", "state=forged-state-value"))
    assert_refused_and_nothing_created(client, response, before)


def test_a_callback_replayed_from_another_browser_is_refused(client, oidc, sso_app, django_user_model):
    """The state lives in the session that started the sign-in: a stolen callback URL is useless."""
    from django.test import Client

    start = client.post("/accounts/oidc/sso/login/")
    authorize = requests.get(start["Location"], allow_redirects=False, timeout=10)
    attacker = Client()
    response = follow_callback(attacker, authorize.headers["Location"])
    assert attacker.session.get("_auth_user_id") is None
    assert response.status_code == 401
    assert not django_user_model.objects.exists()


def test_a_pkce_verifier_that_does_not_match_is_refused(client, oidc, sso_app):
    start = client.post("/accounts/oidc/sso/login/")
    authorize = requests.get(start["Location"], allow_redirects=False, timeout=10)
    for grant in oidc.grants.values():  # the challenge the provider holds is not the browser's
        grant.code_challenge = "A" * 43
    before = User.objects.count()
    response = follow_callback(client, authorize.headers["Location"])
    assert_refused_and_nothing_created(client, response, before)


def test_a_wrong_client_secret_is_refused(client, oidc, sso_app):
    sso_app.secret = "not-the-secret"
    sso_app.save()
    before = User.objects.count()
    response = sso_sign_in(client)
    assert_refused_and_nothing_created(client, response, before)


def test_a_provider_that_is_down_is_a_refused_sign_in_not_an_error(client, oidc, sso_app):
    sso_app.settings = {**sso_app.settings, "server_url": "http://127.0.0.1:9"}
    sso_app.save()
    response = client.post("/accounts/oidc/sso/login/")
    assert response.status_code == 401
    assert "Third-Party Login Failure" in response.content.decode()
    assert signed_in_user_id(client) is None
    assert SignInEvent.objects.get(method=SignInMethod.SSO).reason == FailureReason.SSO_ERROR


def test_the_provider_configured_by_environment_works_too(client, oidc, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            **settings.SOCIALACCOUNT_PROVIDERS["openid_connect"],
            "APPS": [
                {
                    "provider_id": "corp",
                    "name": "Corp login",
                    "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                    "settings": {"server_url": oidc.issuer, "role_map": {"desk": "agent"}},
                }
            ],
        }
    }
    oidc.signed_in["groups"] = ["desk"]
    assert "Corp login" in client.get(reverse("account_login")).content.decode()
    sso_sign_in(client, provider_id="corp")
    assert User.objects.get(email="nina.sso@example.com").role == Role.AGENT


def test_the_login_page_offers_single_sign_on(client, sso_app):
    html = client.get(reverse("account_login")).content.decode()
    assert "Company SSO" in html
    assert "/accounts/oidc/sso/login/" in html


# --- Agents on single sign-on only ---


def test_an_agent_cannot_use_a_password_when_sso_is_required(client, sso_app, agent):
    save_settings(sso_required_for_agents=True)
    response = password_sign_in(client, agent, follow=True)
    assert signed_in_user_id(client) is None
    html = response.content.decode()
    assert "Agents sign in with single sign-on" in html and "Company SSO" in html
    event = SignInEvent.objects.filter(user=agent).first()
    assert (event.result, event.reason) == ("failure", FailureReason.SSO_REQUIRED)


def test_an_agent_still_signs_in_through_sso_when_required(client, oidc, sso_app, agent):
    save_settings(sso_required_for_agents=True)
    oidc.signed_in.update(email=agent.email, groups=["itsm-agents"])
    sso_sign_in(client)
    assert signed_in_user_id(client) == str(agent.pk)


@pytest.mark.parametrize("persona", ["admin_user", "requester", "viewer"])
def test_admins_requesters_and_viewers_keep_their_password(client, sso_app, request, persona):
    """Admins keep password sign-in as the way in when the identity provider is down."""
    save_settings(sso_required_for_agents=True)
    user = request.getfixturevalue(persona)
    password_sign_in(client, user)
    assert signed_in_user_id(client) == str(user.pk)


def test_without_sso_configured_agents_keep_their_password(client, agent):
    save_settings(sso_required_for_agents=True)
    password_sign_in(client, agent)
    assert signed_in_user_id(client) == str(agent.pk)


# --- Configuration in the admin ---


def test_the_admin_refuses_unusable_sso_settings_and_saves_nothing(client, admin_user, oidc):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:socialaccount_socialapp_add"),
        {
            "provider": "openid_connect",
            "provider_id": "sso",
            "name": "Company SSO",
            "client_id": CLIENT_ID,
            "secret": CLIENT_SECRET,
            "key": "",
            "settings": json.dumps({"server_url": oidc.issuer, "role_map": {"itsm-agents": "wizard"}}),
        },
    )
    assert response.status_code == 200
    assert "role_map names unknown roles: wizard" in response.content.decode()
    assert not SocialApp.objects.exists()


def test_sso_configuration_changes_are_audited_without_the_secret(client, admin_user, oidc):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:socialaccount_socialapp_add"),
        {
            "provider": "openid_connect",
            "provider_id": "sso",
            "name": "Company SSO",
            "client_id": CLIENT_ID,
            "secret": CLIENT_SECRET,
            "key": "",
            "settings": json.dumps({"server_url": oidc.issuer}),
        },
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 302
    app = SocialApp.objects.get()
    app.secret = "rotated-secret"
    app.save()
    events = list(SecurityEvent.objects.filter(action=SecurityAction.SSO_CHANGED).order_by("id"))
    assert len(events) == 2
    created, rotated = events
    assert (created.actor_id, created.ip) == (admin_user.pk, "198.51.100.7")
    assert created.after["name"] == "Company SSO"
    assert rotated.after == {"secret": "(changed)"}
    for event in events:
        assert CLIENT_SECRET not in str(event.after) + str(event.before)
        assert "rotated-secret" not in str(event.after) + str(event.before)
