from __future__ import annotations

from urllib.parse import urlparse

import pytest
import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialApp
from django.urls import reverse

from conftest import PASSWORD
from itsm.security.models import SecuritySettings
from itsm.security.tests.fakeoidc import CLIENT_ID, CLIENT_SECRET, FakeOIDCProvider


@pytest.fixture
def oidc():
    provider = FakeOIDCProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def sso_app(db, oidc) -> SocialApp:
    """Single sign-on configured in the admin (a social application row)."""
    return SocialApp.objects.create(
        provider="openid_connect",
        provider_id="sso",
        name="Company SSO",
        client_id=CLIENT_ID,
        secret=CLIENT_SECRET,
        settings={
            "server_url": oidc.issuer,
            "role_map": {"itsm-admins": "admin", "itsm-agents": "agent", "itsm-viewers": "viewer"},
            "team_map": {"itsm-network": "Network", "itsm-desk": "Service Desk"},
        },
    )


def sso_sign_in(client, provider_id: str = "sso"):
    """Sign in through the identity provider as a browser would; returns the callback's answer."""
    start = client.post(f"/accounts/oidc/{provider_id}/login/")
    assert start.status_code == 302, start.content[:500]
    authorize = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert authorize.status_code == 302, authorize.text
    return follow_callback(client, authorize.headers["Location"])


def follow_callback(client, location: str):
    url = urlparse(location)
    return client.get(f"{url.path}?{url.query}")


def signed_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")


def password_sign_in(client, user, password: str = PASSWORD, **extra):
    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    return client.post(reverse("account_login"), {"login": user.email, "password": password}, **extra)


def save_settings(**fields) -> SecuritySettings:
    row = SecuritySettings.load()
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row
