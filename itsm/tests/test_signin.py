import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from itsm.models import Role, User

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_requester_and_asks_to_verify_the_email(client):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "new.person@example.com",
            "password1": "a-long-pass-phrase-42",
            "password2": "a-long-pass-phrase-42",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert user.role == Role.USER
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1
    assert "new.person@example.com" in mail.outbox[0].to
    # Mandatory verification: no session until the address is confirmed.
    assert client.get(reverse("home")).status_code == 302


def test_sign_up_refuses_a_mismatched_password_and_creates_nothing(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "x@example.com", "password1": "a-long-pass-phrase-42", "password2": "different-pass-99"},
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="x@example.com").exists()


def test_login_by_email_with_a_verified_address(client, agent):
    EmailAddress.objects.create(user=agent, email=agent.email, verified=True, primary=True)
    response = client.post(
        reverse("account_login"), {"login": agent.email, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_a_wrong_password_is_refused(client, agent):
    EmailAddress.objects.create(user=agent, email=agent.email, verified=True, primary=True)
    response = client.post(reverse("account_login"), {"login": agent.email, "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_password_reset_mails_a_link(client, agent):
    EmailAddress.objects.create(user=agent, email=agent.email, verified=True, primary=True)
    response = client.post(reverse("account_reset_password"), {"email": agent.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert re.search(r"/accounts/password/reset/key/", mail.outbox[0].body)


def _login(client, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post(
        reverse("account_login"), {"login": user.email, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302


def _current_code(secret: str) -> str:
    import time

    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_an_agent_turns_on_totp_and_then_needs_a_code_to_sign_in(client, agent):
    from allauth.mfa.models import Authenticator

    _login(client, agent)
    # Turning on 2FA asks for the password again (allauth's reauthentication).
    assert client.get(reverse("mfa_activate_totp"))["Location"].startswith(reverse("account_reauthenticate"))
    client.post(reverse("account_reauthenticate"), {"password": "correct-horse-battery"})
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    assert 'class="topbar"' in page.content.decode()
    secret = client.session["mfa.totp.secret"]
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "000000"})
    assert wrong.status_code == 200
    assert not Authenticator.objects.filter(user=agent).exists()
    response = client.post(reverse("mfa_activate_totp"), {"code": _current_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=agent, type="totp").exists()

    client.post(reverse("account_logout"))
    step = client.post(reverse("account_login"), {"login": agent.email, "password": "correct-horse-battery"})
    assert step["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("home")).status_code == 302  # not signed in before the code


def test_logout_ends_the_session(client, agent):
    client.force_login(agent)
    client.post(reverse("account_logout"))
    assert client.get(reverse("home")).status_code == 302
