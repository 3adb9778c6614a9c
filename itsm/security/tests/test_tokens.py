"""API tokens: scopes, expiry, last use, allowed networks, the page and the command."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from itsm.models import ApiToken, Role, TokenScope
from itsm.security import actions
from itsm.security.models import SecurityAction, SecurityEvent, SignInEvent

pytestmark = pytest.mark.django_db


def client_with(key: str, **extra) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def token_for(user, scope, **fields):
    return actions.do_create_api_token(user, name="test", scope=scope, actor=user, **fields)


# --- Scopes ---


def test_a_read_token_reads_but_cannot_write(agent, make_ticket, team):
    ticket = make_ticket(team=team)
    _token, key = token_for(agent, TokenScope.READ)
    api = client_with(key)
    assert api.get(f"/api/tickets/{ticket.pk}/").status_code == 200
    response = api.patch(f"/api/tickets/{ticket.pk}/", {"title": "Changed"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "This token is read-only."}
    ticket.refresh_from_db()
    assert ticket.title != "Changed"
    assert api.post("/api/tickets/", {"title": "x", "description": "y"}, format="json").status_code == 403


def test_a_read_token_may_search_which_changes_nothing(agent):
    _token, key = token_for(agent, TokenScope.READ)
    response = client_with(key).post("/api/ai/search/", {"query": "printer"}, format="json")
    assert response.status_code != 403


def test_a_tickets_token_works_tickets(agent, make_ticket, team):
    ticket = make_ticket(team=team)
    _token, key = token_for(agent, TokenScope.TICKETS)
    response = client_with(key).patch(f"/api/tickets/{ticket.pk}/", {"title": "Changed"}, format="json")
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.title == "Changed"


def test_a_tickets_token_of_an_admin_cannot_use_admin_endpoints(admin_user):
    _token, key = token_for(admin_user, TokenScope.TICKETS)
    api = client_with(key)
    response = api.get("/api/ai/metrics/")
    assert response.status_code == 403
    assert "admin scope" in response.json()["detail"]
    assert api.post("/api/sla/policies/", {"name": "x"}, format="json").status_code == 403
    assert api.get("/api/webhooks/").status_code == 403  # integration endpoint, admin-only view


def test_an_admin_token_of_an_admin_uses_admin_endpoints(admin_user):
    _token, key = token_for(admin_user, TokenScope.ADMIN)
    assert client_with(key).get("/api/ai/metrics/").status_code == 200


def test_an_integrations_token_reaches_integration_endpoints_and_tickets(admin_user, agent):
    _token, key = token_for(admin_user, TokenScope.INTEGRATIONS)
    api = client_with(key)
    assert api.get("/api/webhooks/").status_code == 200
    assert (
        api.post("/api/tickets/", {"title": "From n8n", "description": "body"}, format="json").status_code
        == 201
    )
    assert api.get("/api/ai/metrics/").status_code == 403  # admin endpoint: not an integration
    _token, key = token_for(agent, TokenScope.TICKETS)
    response = client_with(key).post("/api/integrations/jira/reconcile/", {}, format="json")
    assert response.status_code == 403
    assert "integrations scope" in response.json()["detail"]


def test_a_scope_never_widens_the_role(requester):
    # A requester cannot even be given more than tickets; forced, the role still decides.
    token, key = ApiToken.issue(requester, scope=TokenScope.ADMIN)
    assert client_with(key).get("/api/webhooks/").status_code == 403
    assert token.scope == TokenScope.ADMIN


@pytest.mark.parametrize(
    ("role", "offered"),
    [
        (Role.ADMIN, ["read", "tickets", "integrations", "admin"]),
        (Role.AGENT, ["read", "tickets", "integrations"]),
        (Role.USER, ["read", "tickets"]),
        (Role.VIEWER, ["read", "tickets"]),
    ],
)
def test_each_role_is_offered_the_scopes_it_can_use(role, offered):
    from conftest import make_user

    user = make_user(f"{role}@example.com", role)
    assert [scope.value for scope in TokenScope.offered_to(user)] == offered
    # Without a scope a token gets the widest one: what tokens did before scopes existed.
    assert ApiToken.issue(user)[0].scope == offered[-1]


def test_a_scope_above_the_role_is_refused(requester):
    with pytest.raises(Exception) as refused:
        token_for(requester, TokenScope.ADMIN)
    assert "scope" in refused.value.message_dict
    assert not ApiToken.objects.filter(user=requester).exists()


def test_the_migration_gives_old_tokens_the_scope_of_their_role():
    from importlib import import_module

    migration = import_module("itsm.migrations.0003_apitoken_scope_expiry_networks")
    assert migration.SCOPE_OF_ROLE == {
        "admin": "admin",
        "agent": "integrations",
        "user": "tickets",
        "viewer": "tickets",
    }


# --- Expiry, last use, networks ---


def test_an_expired_token_is_refused(agent):
    token, key = token_for(agent, TokenScope.READ, expires_at=timezone.now() + timedelta(days=1))
    api = client_with(key)
    assert api.get("/api/me/").status_code == 200
    assert ApiToken.objects.usable().filter(pk=token.pk).exists()
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        response = api.get("/api/me/")
        assert not ApiToken.objects.usable().filter(pk=token.pk).exists()
    assert response.status_code == 401
    assert response.json() == {"detail": "This token has expired."}


def test_last_use_is_written_at_most_once_a_minute(agent, django_assert_num_queries):
    token, key = token_for(agent, TokenScope.READ)
    api = client_with(key, REMOTE_ADDR="203.0.113.9")
    api.get("/api/me/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and token.last_used_ip == "203.0.113.9"
    with django_assert_num_queries(3):  # the token (+ user), the throttle counter, the teams: no token write
        api.get("/api/me/")
    token.refresh_from_db()
    assert token.last_used_at == first
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        client_with(key, REMOTE_ADDR="203.0.113.10").get("/api/me/")
    token.refresh_from_db()
    assert token.last_used_at > first and token.last_used_ip == "203.0.113.10"


def test_a_token_is_refused_outside_its_networks(agent):
    _token, key = token_for(agent, TokenScope.READ, allowed_networks="203.0.113.0/24\n2001:db8::/32")
    assert client_with(key, REMOTE_ADDR="203.0.113.50").get("/api/me/").status_code == 200
    assert client_with(key, REMOTE_ADDR="2001:db8::7").get("/api/me/").status_code == 200
    response = client_with(key, REMOTE_ADDR="198.51.100.1").get("/api/me/")
    assert response.status_code == 403
    assert response.json() == {"detail": "Access from this address is not allowed."}
    assert "203.0.113" not in response.content.decode()


def test_refused_tokens_are_logged_at_most_once_a_minute_per_address(agent):
    for _ in range(5):
        assert client_with("itsm_not-a-real-key", REMOTE_ADDR="192.0.2.66").get("/api/me/").status_code == 401
    failures = SignInEvent.objects.filter(method="token", ip="192.0.2.66")
    assert failures.count() == 1
    assert failures.get().reason == "bad_token"


def test_bad_networks_are_refused_with_the_line(agent):
    with pytest.raises(Exception) as refused:
        token_for(agent, TokenScope.READ, allowed_networks="10.0.0.0/8\n10.0.0.1/8\nnot-a-range")
    messages = refused.value.message_dict["allowed_networks"]
    assert any("Line 2" in message and "10.0.0.0/8" in message for message in messages)
    assert any("Line 3" in message and "not-a-range" in message for message in messages)
    assert not ApiToken.objects.filter(user=agent).exists()


# --- The page ---


def test_a_user_creates_a_token_and_sees_the_key_once(client, requester):
    client.force_login(requester)
    response = client.post(
        reverse("security:tokens"),
        {"name": "My script", "scope": "read", "expires_in": "30", "allowed_networks": ""},
        REMOTE_ADDR="198.51.100.4",
    )
    assert response.status_code == 200
    html = response.content.decode()
    token = ApiToken.objects.get(user=requester)
    key = html.split('data-testid="new-key">')[1].split("<")[0]
    assert ApiToken.hash_key(key) == token.digest
    assert token.scope == "read" and token.name == "My script"
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert response["Cache-Control"].startswith("max-age=0")
    assert key not in client.get(reverse("security:tokens")).content.decode()
    event = SecurityEvent.objects.get(action=SecurityAction.TOKEN_CREATED)
    assert (event.actor_id, event.ip, event.after["scope"]) == (requester.pk, "198.51.100.4", "read")
    assert key not in str(event.after)


def test_the_form_shows_errors_and_creates_nothing(client, requester):
    client.force_login(requester)
    response = client.post(
        reverse("security:tokens"),
        {"name": "", "scope": "admin", "expires_in": "forever", "allowed_networks": "300.1.1.1/8"},
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) == {"name", "scope", "expires_in", "allowed_networks"}
    assert not ApiToken.objects.exists()


def test_a_user_revokes_their_token_once(client, requester):
    token, key = token_for(requester, TokenScope.READ)
    client.force_login(requester)
    response = client.post(reverse("security:token-revoke", args=[token.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Revoked" in response.content.decode()
    client.post(reverse("security:token-revoke", args=[token.pk]))  # a second click changes nothing
    assert SecurityEvent.objects.filter(action=SecurityAction.TOKEN_REVOKED).count() == 1
    assert client_with(key).get("/api/me/").status_code == 401


def test_nobody_sees_or_revokes_another_persons_token(client, requester, other_requester):
    token, _key = token_for(other_requester, TokenScope.READ)
    client.force_login(requester)
    assert token.hint not in client.get(reverse("security:tokens")).content.decode()
    assert client.post(reverse("security:token-revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert not token.is_revoked


def test_the_token_pages_need_a_session_and_the_right_method(client, requester):
    assert client.get(reverse("security:tokens")).status_code == 302
    client.force_login(requester)
    assert client.get(reverse("security:token-revoke", args=[1])).status_code == 405
    assert client.delete(reverse("security:tokens")).status_code == 405


@pytest.mark.parametrize("persona", ["admin_user", "agent", "requester", "viewer"])
def test_every_role_lists_its_tokens_in_a_fixed_number_of_queries(
    client, request, persona, django_assert_num_queries
):
    user = request.getfixturevalue(persona)
    for n in range(3):
        token_for(user, TokenScope.READ)[0].name = f"t{n}"
    client.force_login(user)
    client.get(reverse("security:tokens"))
    with django_assert_num_queries(4):  # session, user, tokens, unread notifications
        response = client.get(reverse("security:tokens"))
    assert response.content.decode().count('id="token-') == 3


# --- Admin and command ---


def test_the_admin_revokes_and_narrows_tokens_with_an_audit(client, admin_user, requester):
    token, key = token_for(requester, TokenScope.TICKETS)
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:itsm_apitoken_change", args=[token.pk]),
        {"name": "renamed", "expires_at_0": "", "expires_at_1": "", "allowed_networks": "10.0.0.0/8"},
    )
    assert response.status_code == 302
    change = SecurityEvent.objects.get(action=SecurityAction.TOKEN_CHANGED)
    assert change.after == {"allowed_networks": "10.0.0.0/8", "name": "renamed"}
    bad = client.post(
        reverse("admin:itsm_apitoken_change", args=[token.pk]),
        {"name": "renamed", "expires_at_0": "", "expires_at_1": "", "allowed_networks": "10.0.0.0/33"},
    )
    assert bad.status_code == 200 and "not an IPv4 or IPv6 range" in bad.content.decode()
    client.post(
        reverse("admin:itsm_apitoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]}
    )
    revoked = SecurityEvent.objects.get(action=SecurityAction.TOKEN_REVOKED)
    assert revoked.actor_id == admin_user.pk
    page = client.get(reverse("admin:itsm_apitoken_changelist")).content.decode()
    assert "Last used from" in page and "Scope" in page and "Expires" in page


def test_the_command_takes_a_scope_and_an_expiry():
    out = StringIO()
    call_command(
        "create_api_token",
        "n8n@example.com",
        "--role",
        "agent",
        "--scope",
        "tickets",
        "--expires",
        "30",
        stdout=out,
    )
    token = ApiToken.objects.get(user__email="n8n@example.com")
    assert token.scope == "tickets"
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert ApiToken.hash_key(out.getvalue().strip().splitlines()[-1]) == token.digest
    event = SecurityEvent.objects.get(action=SecurityAction.TOKEN_CREATED)
    assert event.actor_label == "system:command"
    call_command("create_api_token", "n8n@example.com", "--expires", "2099-01-31", stdout=StringIO())
    assert ApiToken.objects.filter(expires_at__year=2099).exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--scope", "root"], "valid scopes are read, tickets, integrations, admin"),
        (["--expires", "soon"], "give days (90), a date (2027-01-31) or 'never'"),
        (["--expires", "0"], "at least 1 day"),
        (["--role", "user", "--scope", "admin"], "cannot hold a token with the admin scope"),
        (["--allowed-networks", "10.0.0.0/99"], "not an IPv4 or IPv6 range"),
    ],
)
def test_the_command_refuses_bad_input_and_creates_nothing(arguments, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("create_api_token", "x@example.com", *arguments, stdout=StringIO())
    assert not ApiToken.objects.exists()
    assert not SecurityEvent.objects.filter(action=SecurityAction.TOKEN_CREATED).exists()
