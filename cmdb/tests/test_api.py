"""/api/cmdb/items/ (CRUD, filters, import), /api/tickets/{id}/items/ and suggestions."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cmdb import actions
from cmdb.models import ConfigurationItem, ItemSuggestion, TicketItem

pytestmark = pytest.mark.django_db

ITEMS = "/api/cmdb/items/"


# --- roles -------------------------------------------------------------------------------------
def test_agents_write_viewers_read_requesters_are_refused(api_for, agent, viewer, requester, make_item):
    item = make_item("web01")
    created = api_for(agent).post(ITEMS, {"name": "web02", "type": "server"}, format="json")
    assert created.status_code == 201 and created.json()["name"] == "web02"
    assert api_for(viewer).get(ITEMS).json()["count"] == 2
    assert api_for(viewer).get(f"{ITEMS}{item.pk}/").status_code == 200
    refused = api_for(viewer).post(ITEMS, {"name": "web03", "type": "server"}, format="json")
    assert refused.status_code == 403
    assert (
        api_for(viewer).patch(f"{ITEMS}{item.pk}/", {"status": "retired"}, format="json").status_code == 403
    )
    for method, url in (("get", ITEMS), ("get", f"{ITEMS}{item.pk}/"), ("post", ITEMS)):
        response = getattr(api_for(requester), method)(url, {}, format="json")
        assert response.status_code == 403 and "service desk" in response.json()["detail"]
    assert ConfigurationItem.objects.count() == 2


def test_anonymous_callers_are_refused(client):
    assert client.get(ITEMS).status_code == 401


# --- CRUD --------------------------------------------------------------------------------------
def test_create_validates_through_the_actions(api_for, agent):
    response = api_for(agent).post(
        ITEMS,
        {"name": "web01", "type": "server", "ip_addresses": ["10.0.0.300"], "attributes": {"port": "x"}},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"ip_addresses", "attributes"}
    assert not ConfigurationItem.objects.exists()
    bad_type = api_for(agent).post(ITEMS, {"name": "web01", "type": "toaster"}, format="json")
    assert bad_type.status_code == 400 and "type" in bad_type.json()
    duplicate = api_for(agent).post(ITEMS, {"name": "w", "type": "server"}, format="json")
    assert duplicate.status_code == 201
    again = api_for(agent).post(ITEMS, {"name": "W", "type": "server"}, format="json")
    assert again.status_code == 400 and "exists already" in again.json()["name"][0]


def test_patch_changes_some_fields_and_answers_the_detail(api_for, agent, team, make_item):
    item = make_item("web01")
    response = api_for(agent).patch(
        f"{ITEMS}{item.pk}/",
        {
            "status": "maintenance",
            "owner_team": team.name,
            "maintenance_windows": [{"day": "sun", "start": "02:00", "end": "04:00"}],
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "maintenance" and body["owner_team"] == {"id": team.pk, "name": team.name}
    assert body["maintenance_windows"] == [{"day": "sun", "start": "02:00", "end": "04:00"}]
    assert api_for(agent).put(f"{ITEMS}{item.pk}/", {}, format="json").status_code == 405


def test_delete_refuses_an_item_with_tickets(api_for, agent, make_item, make_ticket):
    linked, spare = make_item("web01"), make_item("spare")
    actions.do_link_ticket_item(make_ticket("down"), linked, actor=agent)
    refused = api_for(agent).delete(f"{ITEMS}{linked.pk}/")
    assert refused.status_code == 409 and "retire it" in refused.json()["detail"]
    assert api_for(agent).delete(f"{ITEMS}{spare.pk}/").status_code == 204
    assert list(ConfigurationItem.objects.values_list("name", flat=True)) == ["web01"]


def test_the_detail_shows_relations_both_ways_and_visible_open_tickets(
    api_for, agent, other_agent, make_item, make_ticket, team
):
    web01, portal, nginx = (
        make_item("web01"),
        make_item("Portal", "application"),
        make_item("nginx", "service"),
    )
    actions.do_add_item_relation(portal, nginx, kind="depends_on", actor=agent)
    actions.do_add_item_relation(nginx, web01, kind="runs_on", actor=agent)
    open_ticket = make_ticket("nginx down")
    secret = make_ticket("secret nginx", sensitive=True, team=team)
    closed = make_ticket("old nginx issue")
    from tickets.actions import do_transition_ticket

    do_transition_ticket(closed, "cancelled", actor=agent)
    for ticket in (open_ticket, secret, closed):
        actions.do_link_ticket_item(ticket, nginx, actor=agent)
    body = api_for(other_agent).get(f"{ITEMS}{nginx.pk}/").json()
    assert [(r["kind"], r["item"]["name"]) for r in body["relations_out"]] == [("runs_on", "web01")]
    assert [(r["kind"], r["item"]["name"]) for r in body["relations_in"]] == [("depends_on", "Portal")]
    assert [t["number"] for t in body["open_tickets"]] == [
        open_ticket.number
    ]  # not the closed, not the secret
    assert [t["number"] for t in api_for(agent).get(f"{ITEMS}{nginx.pk}/").json()["open_tickets"]] == [
        secret.number,
        open_ticket.number,
    ]


def test_relations_are_added_and_removed_through_the_api(api_for, agent, make_item):
    portal, db = make_item("Portal", "application"), make_item("DB", "database")
    response = api_for(agent).post(
        f"{ITEMS}{portal.pk}/relations/", {"kind": "depends_on", "target": db.pk}, format="json"
    )
    assert response.status_code == 201
    [relation] = response.json()["relations_out"]
    assert (
        api_for(agent)
        .post(f"{ITEMS}{portal.pk}/relations/", {"kind": "depends_on", "target": db.pk}, format="json")
        .status_code
        == 400
    )
    assert (
        api_for(agent)
        .post(f"{ITEMS}{portal.pk}/relations/", {"kind": "part_of", "target": portal.pk}, format="json")
        .status_code
        == 400
    )
    assert api_for(agent).delete(f"{ITEMS}{portal.pk}/relations/{relation['id']}/").status_code == 204
    assert not portal.relations_out.exists()


# --- filters -------------------------------------------------------------------------------------
def test_the_list_filters(api_for, agent, team, make_item):
    make_item("web01", hostnames=["web01.acme.example"], ip_addresses=["10.0.1.11"], owner_team=team)
    make_item("web02", environment="staging", aliases=["frontend-2"])
    make_item("Payroll DB", "database", status="retired")
    api = api_for(agent)

    def names(**params):
        return [row["name"] for row in api.get(ITEMS, params).json()["results"]]

    assert names() == ["Payroll DB", "web01", "web02"]
    assert names(type="database") == ["Payroll DB"]
    assert names(environment="staging") == ["web02"]
    assert names(status="retired") == ["Payroll DB"]
    assert names(owner_team=team.pk) == ["web01"]
    assert names(q="web") == ["web01", "web02"]
    assert names(q="frontend-2") == ["web02"]
    assert names(hostname="WEB01.acme.example.") == ["web01"]
    assert names(ip="10.0.1.11") == ["web01"]


@pytest.mark.parametrize(
    "params",
    [
        {"type": "toaster"},
        {"environment": "qa"},
        {"status": "gone"},
        {"owner_team": "x"},
        {"ip": "1.2.3"},
        {"hostname": "a b"},
    ],
)
def test_bad_filters_are_refused(api_for, agent, params):
    response = api_for(agent).get(ITEMS, params)
    assert response.status_code == 400 and list(response.json()) == list(params)


def test_the_list_reads_a_fixed_number_of_queries(api_for, agent, team, make_item, django_assert_num_queries):
    api = api_for(agent)
    make_item("a0", owner_team=team)
    api.get(ITEMS)
    with django_assert_num_queries(4):  # token, throttle counter, count, page (teams joined)
        api.get(ITEMS)
    for n in range(1, 30):
        make_item(f"a{n}", owner_team=team)
    with django_assert_num_queries(4):
        assert len(api.get(ITEMS).json()["results"]) == 25


# --- import ---------------------------------------------------------------------------------------
def test_import_accepts_a_csv_file_and_reports(api_for, agent):
    upload = SimpleUploadedFile(
        "items.csv", b"name,type,runs_on\nweb01,server,\nnginx,service,web01\n", "text/csv"
    )
    response = api_for(agent).post(f"{ITEMS}import/", {"file": upload}, format="multipart")
    assert response.status_code == 200
    assert response.json() | {"errors": []} == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "relations_created": 1,
        "dry_run": False,
        "errors": [],
    }


def test_import_accepts_a_json_body_and_a_dry_run(api_for, agent):
    body = {"items": [{"name": "web01", "type": "server"}], "dry_run": True}
    response = api_for(agent).post(f"{ITEMS}import/", body, format="json")
    assert response.status_code == 200 and response.json()["created"] == 1
    assert not ConfigurationItem.objects.exists()


def test_a_bad_import_answers_400_with_the_rows_and_changes_nothing(api_for, agent):
    upload = SimpleUploadedFile(
        "items.json", json.dumps([{"name": "a", "type": "server"}, {"name": "b", "type": "x"}]).encode()
    )
    response = api_for(agent).post(f"{ITEMS}import/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Nothing was imported: 1 problem(s)."
    assert body["errors"] == [
        {
            "row": 2,
            "field": "type",
            "message": "'x' is not one of server, service, application, database, network_device, other.",
        }
    ]
    assert not ConfigurationItem.objects.exists()


def test_an_import_needs_one_source_and_a_known_format(api_for, agent, viewer):
    api = api_for(agent)
    assert api.post(f"{ITEMS}import/", {}, format="json").status_code == 400
    upload = SimpleUploadedFile("items.txt", b"name,type\n")
    assert "format" in api.post(f"{ITEMS}import/", {"file": upload}, format="multipart").json()
    assert api_for(viewer).post(f"{ITEMS}import/", {"items": []}, format="json").status_code == 403


# --- a ticket's items -------------------------------------------------------------------------------
def test_a_ticket_lists_links_and_unlinks_its_items(api_for, agent, viewer, make_item, make_ticket):
    item, ticket = make_item("web01"), make_ticket("web01 down")
    url = f"/api/tickets/{ticket.pk}/items/"
    api = api_for(agent)
    created = api.post(url, {"item": item.pk, "role": "caused_by"}, format="json")
    assert created.status_code == 201
    assert created.json()["item"]["name"] == "web01" and created.json()["linked_by"] == agent.email
    assert api.post(url, {"item": item.pk, "role": "caused_by"}, format="json").status_code == 200  # no twin
    assert [link["role"] for link in api_for(viewer).get(url).json()] == ["caused_by"]
    assert api_for(viewer).post(url, {"item": item.pk}, format="json").status_code == 403
    assert api.post(url, {"item": 999999}, format="json").status_code == 400
    assert api.delete(f"{url}{item.pk}/?role=affected").status_code == 404
    assert api.delete(f"{url}{item.pk}/?role=maybe").status_code == 400
    assert api.delete(f"{url}{item.pk}/").status_code == 204
    assert not TicketItem.objects.exists()


def test_a_ticket_the_caller_cannot_see_is_not_found(
    api_for, other_agent, requester, make_item, make_ticket, team
):
    secret = make_ticket("secret", sensitive=True, team=team)
    assert api_for(other_agent).get(f"/api/tickets/{secret.pk}/items/").status_code == 404
    own = make_ticket("mine")
    assert api_for(requester).get(f"/api/tickets/{own.pk}/items/").status_code == 403


def test_suggestions_are_listed_accepted_and_dismissed(api_for, agent, estate, make_ticket):
    ticket = make_ticket("web01 slow", description="and backup02.acme.example is full")
    actions.do_extract_ticket_items(ticket)
    api = api_for(agent)
    body = api.get(f"/api/tickets/{ticket.pk}/items/suggestions/").json()
    assert [(s["item"]["name"] if s["item"] else s["hostname"], s["status"]) for s in body] == [
        ("web01", "pending"),
        ("backup02.acme.example", "pending"),
    ]
    item_id, host_id = body[0]["id"], body[1]["id"]
    accepted = api.post(f"/api/cmdb/suggestions/{item_id}/accept/", {"role": "affected"}, format="json")
    assert accepted.status_code == 200 and accepted.json()["source"] == "suggestion"
    twice = api.post(f"/api/cmdb/suggestions/{item_id}/accept/", {}, format="json")
    assert twice.status_code == 409 and "already accepted" in twice.json()["detail"]
    assert api.post(f"/api/cmdb/suggestions/{host_id}/accept/").status_code == 400  # not an item yet
    assert api.post(f"/api/cmdb/suggestions/{host_id}/dismiss/").json()["status"] == "dismissed"
    assert ItemSuggestion.objects.get(pk=host_id).decided_by == agent


def test_the_schema_documents_the_cmdb_endpoints(api_for, agent):
    paths = api_for(agent).get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path in (
        "/api/cmdb/items/",
        "/api/cmdb/items/{id}/",
        "/api/cmdb/items/import/",
        "/api/tickets/{ticket_pk}/items/",
        "/api/tickets/{ticket_pk}/items/{item_pk}/",
        "/api/cmdb/suggestions/{id}/accept/",
        "/api/approvals/",
        "/api/approvals/{id}/approve/",
    ):
        assert path in paths
