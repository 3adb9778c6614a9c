"""The security audit: what is recorded, with whom and from where, and that it cannot be changed."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse

from itsm.models import Role, User
from itsm.security import audit
from itsm.security.models import SecurityAction, SecurityEvent
from itsm.security.tests.conftest import save_settings

pytestmark = pytest.mark.django_db


def test_a_role_change_in_the_admin_is_recorded_with_actor_and_address(client, admin_user, requester):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:itsm_user_change", args=[requester.pk]),
        {
            "email": requester.email,
            "full_name": requester.full_name,
            "role": "agent",
            "organisation": requester.organisation_id,
            "language": "en",
            "skills": "",
            "seniority": "mid",
            "capacity": 20,
            "is_available": "on",
            "is_active": "on",
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
        REMOTE_ADDR="203.0.113.8",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = SecurityEvent.objects.get(action=SecurityAction.ROLE_CHANGED, target_id=str(requester.pk))
    assert (event.actor_id, event.actor_label, event.ip) == (admin_user.pk, admin_user.email, "203.0.113.8")
    assert event.before == {"role": "user"}
    assert event.after == {"role": "agent"}


def test_saves_that_change_no_privilege_are_not_recorded(agent):
    agent.full_name = "Bob Renamed"
    agent.save()
    agent.save(update_fields=["last_login"])
    reloaded = User.objects.only("email").get(pk=agent.pk)
    reloaded.save(update_fields=["email"])
    # Only the creation of the agent account (by the fixture) is on record.
    events = SecurityEvent.objects.filter(action=SecurityAction.ROLE_CHANGED, target_id=str(agent.pk))
    assert [(event.before, event.after["role"]) for event in events] == [({}, "agent")]


def test_deactivation_and_superuser_are_privilege_changes(agent):
    agent.is_active = False
    agent.is_superuser = True
    agent.save()
    event = SecurityEvent.objects.exclude(before={}).get(action=SecurityAction.ROLE_CHANGED)
    assert event.before == {"is_active": True, "is_superuser": False}
    assert event.after == {"is_active": False, "is_superuser": True}
    assert event.actor_label == "system"


def test_a_new_privileged_account_is_recorded(db):
    User.objects.create_user(email="new.admin@example.com", role=Role.ADMIN)
    User.objects.create_user(email="new.requester@example.com")
    events = SecurityEvent.objects.filter(action=SecurityAction.ROLE_CHANGED)
    assert [event.target_label for event in events] == ["new.admin@example.com"]


def test_security_settings_changes_are_recorded_apart_from_allowlists(admin_user):
    with audit.acting_as(user=admin_user, ip="198.51.100.2"):
        save_settings(two_factor_required_for="staff")
        save_settings(agent_allowed_networks="10.0.0.0/8")
    settings_event = SecurityEvent.objects.get(action=SecurityAction.SETTINGS_CHANGED)
    assert settings_event.before == {"two_factor_required_for": "nobody"}
    assert settings_event.after == {"two_factor_required_for": "staff"}
    allowlist_event = SecurityEvent.objects.get(action=SecurityAction.ALLOWLIST_CHANGED)
    assert allowlist_event.after == {"agent_allowed_networks": "10.0.0.0/8"}
    assert (allowlist_event.actor_id, allowlist_event.ip) == (admin_user.pk, "198.51.100.2")


def test_an_export_request_is_recorded(api_for, agent):
    response = api_for(agent).post(
        "/api/exports/", {"format": "csv", "filters": {"status": "open"}}, format="json"
    )
    assert response.status_code in (201, 202), response.content
    event = SecurityEvent.objects.get(action=SecurityAction.EXPORT_REQUESTED)
    assert event.actor_id == agent.pk
    assert event.target_type == "tickets.exportjob"
    assert event.after["format"] == "csv"
    assert event.ip == "127.0.0.1"


def test_the_audit_is_append_only(agent):
    event = audit.record(SecurityAction.ROLE_CHANGED, target=agent, after={"role": "agent"})
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).update(after={"role": "user"})
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).delete()
    assert SecurityEvent.objects.get(pk=event.pk).after == {"role": "agent"}


def test_the_admin_shows_the_audit_read_only(client, admin_user, agent):
    event = audit.record(SecurityAction.ROLE_CHANGED, target=agent, after={"role": "agent"})
    client.force_login(admin_user)
    assert client.get(reverse("admin:security_securityevent_changelist")).status_code == 200
    detail = client.get(reverse("admin:security_securityevent_change", args=[event.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.post(reverse("admin:security_securityevent_change", args=[event.pk]), {}).status_code == 403
    assert client.get(reverse("admin:security_securityevent_delete", args=[event.pk])).status_code == 403
    assert client.get(reverse("admin:security_securityevent_add")).status_code == 403
    assert client.get(reverse("admin:security_signinevent_changelist")).status_code == 200


@pytest.mark.parametrize("persona", ["agent", "requester", "viewer"])
def test_only_admins_read_the_audit(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("admin:security_securityevent_changelist"))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_security_settings_page_is_the_one_row(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:security_securitysettings_changelist"))
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Two-factor authentication required for" in page
    assert client.get(reverse("admin:security_securitysettings_add")).status_code == 403


def test_each_process_rereads_the_settings_after_the_cache_time(settings):
    from itsm.security.models import SecuritySettings

    row = save_settings(two_factor_required_for="staff")
    assert SecuritySettings.current().two_factor_required_for == "staff"
    # Another process saves (no signal reaches this one): seen once the cache time has passed.
    SecuritySettings.objects.filter(pk=row.pk).update(two_factor_required_for="admins")
    assert SecuritySettings.current().two_factor_required_for == "staff"
    settings.SECURITY_SETTINGS_CACHE_SECONDS = 0
    assert SecuritySettings.current().two_factor_required_for == "admins"
