"""The admin edits items through the same actions (rules, history); links are read-only."""

import pytest
from django.urls import reverse

from cmdb import actions
from cmdb.models import CmdbSettings, ConfigurationItem

pytestmark = pytest.mark.django_db

FORM = {
    "name": "web01",
    "type": "server",
    "environment": "prod",
    "status": "active",
    "owner_team": "",
    "description": "",
    "attributes": '{"os": "Debian 12"}',
    "aliases": "frontend-1\nfront-1",
    "hostnames": "WEB01.acme.example",
    "ip_addresses": "10.0.1.11",
    "maintenance_windows": "sun 02:00-04:00",
    "timezone": "Europe/Paris",
    "relations_out-TOTAL_FORMS": "0",
    "relations_out-INITIAL_FORMS": "0",
}


def test_an_admin_adds_and_changes_an_item_through_the_actions(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:cmdb_configurationitem_add"), FORM)
    assert response.status_code == 302
    item = ConfigurationItem.objects.get()
    assert item.aliases == ["frontend-1", "front-1"] and item.hostnames == ["web01.acme.example"]
    assert [str(window) for window in item.windows()] == ["sun 02:00-04:00"]
    assert item.keys.filter(key="front-1").exists()
    change = reverse("admin:cmdb_configurationitem_change", args=[item.pk])
    assert "frontend-1\nfront-1" in client.get(change).content.decode()
    client.post(change, {**FORM, "status": "maintenance", "relations_out-INITIAL_FORMS": "0"})
    item.refresh_from_db()
    assert item.status == "maintenance"
    assert [event.pgh_context["actor"] for event in item.events.order_by("pgh_id")] == [admin_user.email] * 2


def test_bad_values_show_beside_their_field(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:cmdb_configurationitem_add"),
        {**FORM, "ip_addresses": "10.0.1.300", "maintenance_windows": "someday"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "is not an IPv4 or IPv6 address" in errors["ip_addresses"][0]
    assert "write a window as" in errors["maintenance_windows"][0]
    assert not ConfigurationItem.objects.exists()


def test_the_admin_lists_links_settings_and_approvals(client, admin_user, make_ticket):
    item = actions.do_create_item(actor=None, name="web01", type="server")
    actions.do_link_ticket_item(make_ticket("down"), item, actor=admin_user)
    CmdbSettings.load()
    client.force_login(admin_user)
    for name in (
        "cmdb_configurationitem",
        "cmdb_ticketitem",
        "cmdb_itemrelation",
        "cmdb_itemsuggestion",
        "cmdb_cmdbsettings",
        "approvals_approvalrequest",
        "approvals_approvaldecision",
    ):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    assert client.get(reverse("admin:cmdb_ticketitem_add")).status_code == 403
