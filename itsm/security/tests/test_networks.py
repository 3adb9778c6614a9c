"""Client address behind proxies, and the admin and agent allowlists."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse

from itsm.lib.networks import address_allowed, client_ip, parse_networks, site_of
from itsm.security.models import SecurityAction, SecurityEvent, SecuritySettings
from itsm.security.tests.conftest import password_sign_in, save_settings, signed_in_user_id


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request_from("198.51.100.1", "203.0.113.5")) == "198.51.100.1"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "203.0.113.5", "203.0.113.5"),
        # The client wrote "6.6.6.6" itself; our one proxy appended the address it saw.
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),
        # Two proxies: the right-most hop is the inner proxy's view of the outer one.
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", "203.0.113.5"),  # fewer hops than proxies: all written by ours
        (1, "203.0.113.5:4711", "203.0.113.5"),
        (1, "[2001:db8::5]:443", "2001:db8::5"),
        (1, "2001:db8::5", "2001:db8::5"),
        (1, "not-an-address", "10.0.0.1"),  # unreadable: fall back to the proxy's address
    ],
)
def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(request_from("10.0.0.1", forwarded)) == expected


def test_ranges_are_parsed_and_matched():
    networks = parse_networks("10.0.0.0/8  # office\n\n2001:db8::/32\n192.0.2.7")
    assert [str(network) for network in networks] == ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]
    assert address_allowed("10.1.2.3", networks)
    assert address_allowed("2001:db8:1::1", networks)
    assert address_allowed("192.0.2.7", networks)
    assert not address_allowed("192.0.2.8", networks)
    assert not address_allowed("::ffff:11.0.0.1", networks)
    assert address_allowed("::ffff:10.0.0.1", networks)  # IPv4-mapped IPv6 is the IPv4 address
    assert address_allowed("8.8.8.8", [])  # no list: everyone


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
        ("10.0.0.0/33", "is not an IPv4 or IPv6 range"),
        ("example.com", "is not an IPv4 or IPv6 range"),
        ("2001:db8::/129", "is not an IPv4 or IPv6 range"),
    ],
)
def test_bad_ranges_are_refused_clearly(text, fragment):
    with pytest.raises(ValidationError) as refused:
        parse_networks(text)
    assert fragment in refused.value.messages[0]
    assert refused.value.messages[0].startswith("Line 1:")


def test_sites_are_the_slash_24_and_slash_48():
    assert site_of("203.0.113.77") == "203.0.113.0/24"
    assert site_of("2001:db8:aa:bb::1") == "2001:db8:aa::/48"
    assert site_of("garbage") == ""


# --- The allowlists in use ---


@pytest.mark.django_db
def test_the_admin_site_is_refused_outside_the_admin_allowlist(client, admin_user):
    save_settings(admin_allowed_networks="203.0.113.0/24")
    client.force_login(admin_user)
    assert client.get(reverse("admin:index"), REMOTE_ADDR="203.0.113.4").status_code == 200
    refused = client.get(reverse("admin:index"), REMOTE_ADDR="198.51.100.1")
    assert refused.status_code == 403
    assert "203.0.113" not in refused.content.decode()
    # Even the admin's sign-in page is out of reach, and other pages are not concerned.
    assert client.get("/admin/login/", REMOTE_ADDR="198.51.100.1").status_code == 403
    assert client.get(reverse("home"), REMOTE_ADDR="198.51.100.1").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["agent", "admin_user"])
def test_agents_and_admins_are_refused_outside_the_agent_allowlist(client, request, persona, make_ticket):
    save_settings(agent_allowed_networks="203.0.113.0/24\n2001:db8::/32")
    user = request.getfixturevalue(persona)
    client.force_login(user)
    assert client.get(reverse("home"), REMOTE_ADDR="2001:db8::1").status_code == 200
    page = client.get(reverse("home"), REMOTE_ADDR="198.51.100.1")
    assert page.status_code == 403
    assert "cannot be used from this address" in page.content.decode()
    api = client.get("/api/me/", REMOTE_ADDR="198.51.100.1")
    assert api.status_code == 403
    assert api.json() == {"detail": "Your account cannot be used from this address."}
    # Signing out stays possible.
    assert client.post(reverse("account_logout"), REMOTE_ADDR="198.51.100.1").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["requester", "viewer"])
def test_requesters_and_viewers_are_not_bound_by_the_agent_allowlist(client, request, persona):
    save_settings(agent_allowed_networks="203.0.113.0/24")
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("home"), REMOTE_ADDR="198.51.100.1").status_code == 200


@pytest.mark.django_db
def test_agent_tokens_are_refused_outside_the_agent_allowlist(agent, requester, api_for):
    save_settings(agent_allowed_networks="203.0.113.0/24")
    agent_api = api_for(agent)
    assert agent_api.get("/api/me/", REMOTE_ADDR="203.0.113.9").status_code == 200
    response = agent_api.get("/api/me/", REMOTE_ADDR="198.51.100.1")
    assert response.status_code == 403
    assert "203.0.113" not in response.content.decode()
    assert api_for(requester).get("/api/me/", REMOTE_ADDR="198.51.100.1").status_code == 200


@pytest.mark.django_db
def test_an_agent_cannot_sign_in_from_outside_the_allowlist(client, agent):
    save_settings(agent_allowed_networks="203.0.113.0/24")
    response = password_sign_in(client, agent, REMOTE_ADDR="198.51.100.1", follow=True)
    assert signed_in_user_id(client) is None
    assert "not allowed for your account" in response.content.decode()


@pytest.mark.django_db
def test_the_admin_cannot_save_an_allowlist_that_shuts_them_out(client, admin_user):
    client.force_login(admin_user)
    row = SecuritySettings.load()
    url = reverse("admin:security_securitysettings_change", args=[row.pk])
    form = {
        "two_factor_required_for": "nobody",
        "two_factor_trusts_sso": "on",
        "admin_allowed_networks": "10.0.0.0/8",
        "agent_allowed_networks": "",
        "notify_unusual_sign_ins": "on",
    }
    response = client.post(url, form, REMOTE_ADDR="203.0.113.4")
    assert response.status_code == 200
    assert "Your own address (203.0.113.4) is outside these ranges" in response.content.decode()
    row.refresh_from_db()
    assert row.admin_allowed_networks == ""
    bad = client.post(
        url, {**form, "admin_allowed_networks": "10.0.0.0/8\n10.1.0.0/8"}, REMOTE_ADDR="203.0.113.4"
    )
    assert "did you mean 10.0.0.0/8" in bad.content.decode()
    ok = client.post(
        url, {**form, "admin_allowed_networks": "10.0.0.0/8\n203.0.113.0/24"}, REMOTE_ADDR="203.0.113.4"
    )
    assert ok.status_code == 302
    row.refresh_from_db()
    assert row.admin_allowed_networks == "10.0.0.0/8\n203.0.113.0/24"
    event = SecurityEvent.objects.get(action=SecurityAction.ALLOWLIST_CHANGED)
    assert (event.actor_id, event.ip, event.before) == (
        admin_user.pk,
        "203.0.113.4",
        {"admin_allowed_networks": ""},
    )
    # In force at once in this process.
    assert client.get(reverse("admin:index"), REMOTE_ADDR="198.51.100.1").status_code == 403


@pytest.mark.django_db
def test_a_refusal_is_logged(client, admin_user, caplog):
    save_settings(admin_allowed_networks="203.0.113.0/24")
    client.force_login(admin_user)
    with caplog.at_level("WARNING", logger="itsm.security"):
        client.get(reverse("admin:index"), REMOTE_ADDR="198.51.100.1")
    assert any(
        "198.51.100.1" in record.getMessage() and "admin allowlist" in record.getMessage()
        for record in caplog.records
    )
