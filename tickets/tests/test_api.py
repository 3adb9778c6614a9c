"""GET/POST /api/tickets/, GET/PATCH /api/tickets/{id}/, transition, assign, priority; roles."""

import pytest

from tickets.actions import do_transition_ticket
from tickets.models import Category, SensitiveAccess, Ticket, TicketStatus

pytestmark = pytest.mark.django_db


def url(ticket=None, action=""):
    base = "/api/tickets/" if ticket is None else f"/api/tickets/{ticket.pk}/"
    return base + (f"{action}/" if action else "")


# --- create -----------------------------------------------------------------------------------------
def test_it_opens_a_ticket_for_the_requester(api_for, requester):
    response = api_for(requester).post(
        url(), {"title": "Printer jammed", "description": "Floor 3"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"].startswith("INC-")
    assert (body["status"], body["priority"], body["type"]) == ("new", "medium", "incident")
    assert (body["requester"], body["assignee"], body["team"], body["archived"]) == (
        requester.email,
        None,
        None,
        False,
    )
    assert body["jira_key"] is None and body["version"] == 1
    ticket = Ticket.objects.get(pk=body["id"])
    assert (ticket.channel, ticket.requester) == ("api", requester)


def test_it_opens_a_ticket_with_everything_an_agent_may_set(api_for, agent, requester, team):
    Category.objects.create(name="Network")
    payload = {
        "title": "VPN down",
        "type": "service_request",
        "impact": "high",
        "urgency": "high",
        "category": "network",
        "tags": "vpn, Remote",
        "requester": requester.email,
        "assignee": agent.email,
        "team": "Service Desk",
    }
    response = api_for(agent).post(url(), payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"].startswith("REQ-")
    assert (body["priority"], body["category"], body["team"], body["assignee"]) == (
        "critical",
        "Network",
        team.name,
        agent.email,
    )
    assert (body["tags"], body["requester"]) == (["vpn", "remote"], requester.email)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": "ok", "type": "problem"}, "type"),
        ({"title": "ok", "impact": "huge"}, "impact"),
        ({"title": "ok", "category": "Nope"}, "category"),
        ({"title": "ok", "tags": 42}, "tags"),
        ({"title": "ok", "requester": "ghost@example.com"}, "requester"),
        ({"title": "ok", "assignee": "dave.user@example.com"}, "assignee"),
        ({"title": "ok", "team": "Nope"}, "team"),
        ({"title": "ok", "priority": "critical"}, "priority_reason"),
        ({"title": "ok", "colour": "red"}, "colour"),
        ({"title": "ok", "status": "resolved"}, "status"),
    ],
)
def test_it_refuses_bad_input_when_opening(api_for, agent, requester, payload, field):
    response = api_for(agent).post(url(), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Ticket.objects.exists()


def test_it_refuses_agent_only_fields_from_a_requester(api_for, requester, agent):
    response = api_for(requester).post(url(), {"title": "x", "assignee": agent.email}, format="json")
    assert response.status_code == 400
    assert response.json() == {"assignee": ["Only agents may set this."]}
    assert not Ticket.objects.exists()


def test_it_refuses_a_viewer_opening_a_ticket(api_for, viewer):
    response = api_for(viewer).post(url(), {"title": "x"}, format="json")
    assert response.status_code == 403
    assert not Ticket.objects.exists()


def test_it_refuses_malformed_json(api_for, agent):
    response = api_for(agent).post(url(), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


# --- read ---------------------------------------------------------------------------------------------
def test_it_hides_other_peoples_tickets_from_a_requester(api_for, make_ticket, requester, other_requester):
    mine, theirs = make_ticket("mine"), make_ticket("theirs", requester=other_requester)
    client = api_for(requester)
    assert client.get(url(mine)).status_code == 200
    assert client.get(url(theirs)).status_code == 404
    assert client.get(url(theirs, "comments")).status_code == 404
    assert [row["title"] for row in client.get(url()).json()["results"]] == ["mine"]


def test_it_hides_another_teams_sensitive_ticket_from_an_agent(
    api_for, make_ticket, agent, other_agent, team
):
    ticket = make_ticket("HR", sensitive=True, team=team)
    assert api_for(other_agent).get(url(ticket)).status_code == 404
    assert api_for(agent).get(url(ticket)).status_code == 200


def test_it_audits_each_api_view_of_a_sensitive_ticket(api_for, make_ticket, agent, admin_user, team):
    ticket = make_ticket("HR", sensitive=True, team=team)
    api_for(agent).get(url(ticket))
    api_for(admin_user).get(url(ticket))
    api_for(agent).get(url(ticket, "comments"))
    assert list(SensitiveAccess.objects.order_by("id").values_list("user_email", "channel")) == [
        (agent.email, "api"),
        (admin_user.email, "api"),
        (agent.email, "api"),
    ]


def test_it_does_not_audit_views_of_plain_tickets(api_for, make_ticket, agent):
    api_for(agent).get(url(make_ticket()))
    assert not SensitiveAccess.objects.exists()


def test_it_finds_an_archived_ticket_by_id_but_not_in_the_list(api_for, make_ticket, agent):
    ticket = make_ticket()
    ticket.archive(actor=agent)
    client = api_for(agent)
    assert client.get(url(ticket)).json()["archived"] is True
    assert client.get(url()).json()["count"] == 0
    assert client.get(url(), {"archived": "true"}).json()["count"] == 1


def test_it_answers_404_for_a_non_numeric_id(api_for, agent):
    assert api_for(agent).get("/api/tickets/abc/").status_code == 404


def test_it_refuses_put_and_delete(api_for, make_ticket, admin_user):
    ticket = make_ticket()
    client = api_for(admin_user)
    assert client.put(url(ticket), {"title": "x"}, format="json").status_code == 405
    assert client.delete(url(ticket)).status_code == 405
    assert Ticket.objects.filter(pk=ticket.pk).exists()


# --- patch ----------------------------------------------------------------------------------------------
def test_it_edits_fields_assignment_and_priority_in_one_patch(api_for, make_ticket, agent, team):
    ticket = make_ticket()
    response = api_for(agent).patch(
        url(ticket),
        {
            "title": "Printer jammed again",
            "impact": "high",
            "urgency": "high",
            "tags": ["printer"],
            "assignee": agent.email,
            "team": team.pk,
            "version": 1,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["title"], body["priority"], body["assignee"], body["team"], body["tags"]) == (
        "Printer jammed again",
        "critical",
        agent.email,
        team.name,
        ["printer"],
    )
    assert body["version"] > 1


def test_it_refuses_a_patch_over_a_newer_version(api_for, make_ticket, agent, other_agent):
    ticket = make_ticket()
    assert (
        api_for(other_agent).patch(url(ticket), {"title": "Theirs", "version": 1}, format="json").status_code
        == 200
    )
    response = api_for(agent).patch(
        url(ticket), {"title": "Mine", "assignee": agent.email, "version": 1}, format="json"
    )
    assert response.status_code == 409
    assert "changed by someone else" in response.json()["detail"]
    assert response.json()["version"] == 2
    ticket.refresh_from_db()
    assert (ticket.title, ticket.assignee) == ("Theirs", None)


def test_it_changes_nothing_when_part_of_a_patch_is_refused(api_for, make_ticket, agent, requester):
    ticket = make_ticket()
    response = api_for(agent).patch(url(ticket), {"title": "New", "assignee": requester.email}, format="json")
    assert response.status_code == 400
    assert "not an agent" in str(response.json())
    ticket.refresh_from_db()
    assert (ticket.title, ticket.version) == ("Printer on floor 3 is jammed", 1)


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"status": "resolved"}, "status", "/transition/"),
        ({"number": "INC-1"}, "number", "cannot be changed"),
        ({"colour": "red"}, "colour", "Unknown field"),
        ({"version": 1}, "detail", "Nothing to change"),
        ({"title": " "}, "title", "may not be blank"),
        ({"impact": "huge"}, "impact", "not a valid choice"),
        ({"version": "x", "title": "t"}, "version", "valid integer"),
        ({"priority": "high"}, "priority_reason", "reason"),
    ],
)
def test_it_refuses_bad_patches(api_for, make_ticket, agent, payload, field, message):
    ticket = make_ticket()
    response = api_for(agent).patch(url(ticket), payload, format="json")
    assert response.status_code == 400
    assert message in str(response.json()[field])
    ticket.refresh_from_db()
    assert ticket.version == 1


def test_it_refuses_patches_from_requesters_and_viewers(api_for, make_ticket, requester, viewer):
    ticket = make_ticket()
    assert api_for(requester).patch(url(ticket), {"title": "mine"}, format="json").status_code == 403
    assert api_for(viewer).patch(url(ticket), {"title": "mine"}, format="json").status_code == 403
    assert Ticket.objects.get(pk=ticket.pk).version == 1


# --- transitions ------------------------------------------------------------------------------------------
def test_it_moves_a_ticket_through_its_lifecycle(api_for, make_ticket, agent):
    ticket = make_ticket()
    client = api_for(agent)
    for to in ("open", "in_progress", "pending_customer", "in_progress"):
        response = client.post(url(ticket, "transition"), {"to": to}, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == to
    response = client.post(
        url(ticket, "transition"), {"to": "resolved", "resolution": "Replaced toner"}, format="json"
    )
    assert (response.json()["status"], response.json()["resolution"]) == ("resolved", "Replaced toner")
    assert (
        client.post(url(ticket, "transition"), {"to": "closed"}, format="json").json()["status"] == "closed"
    )


def test_it_refuses_an_illegal_move_listing_the_allowed_ones(api_for, make_ticket, agent):
    ticket = make_ticket()
    response = api_for(agent).post(url(ticket, "transition"), {"to": "closed"}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["current"] == "new"
    assert body["allowed"] == [
        "open",
        "in_progress",
        "pending_customer",
        "pending_vendor",
        "resolved",
        "cancelled",
    ]
    assert "Cannot move a new ticket to closed" in body["detail"]
    assert Ticket.objects.get(pk=ticket.pk).status == "new"


def test_it_refuses_to_resolve_without_a_resolution(api_for, make_ticket, agent):
    ticket = make_ticket()
    response = api_for(agent).post(url(ticket, "transition"), {"to": "resolved"}, format="json")
    assert response.status_code == 400
    assert "resolution" in response.json() and "allowed" in response.json()
    assert Ticket.objects.get(pk=ticket.pk).status == "new"


@pytest.mark.parametrize(
    "payload", [{}, {"to": "done"}, {"to": "open", "version": 0}, {"to": "open", "why": "x"}]
)
def test_it_refuses_bad_transition_input(api_for, make_ticket, agent, payload):
    ticket = make_ticket()
    assert api_for(agent).post(url(ticket, "transition"), payload, format="json").status_code == 400
    assert Ticket.objects.get(pk=ticket.pk).version == 1


def test_it_refuses_a_stale_transition(api_for, make_ticket, agent):
    ticket = make_ticket()
    client = api_for(agent)
    client.post(url(ticket, "transition"), {"to": "open", "version": 1}, format="json")
    response = client.post(url(ticket, "transition"), {"to": "in_progress", "version": 1}, format="json")
    assert response.status_code == 409
    assert Ticket.objects.get(pk=ticket.pk).status == "open"


def test_it_lets_a_requester_reopen_but_nothing_else(api_for, make_ticket, agent, requester):
    ticket = make_ticket()
    client = api_for(requester)
    assert client.post(url(ticket, "transition"), {"to": "cancelled"}, format="json").status_code == 403
    do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="Fixed")
    response = client.post(url(ticket, "transition"), {"to": "open", "reason": "Still jammed"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reopen_count"]) == ("open", 1)


def test_it_refuses_transitions_from_viewers(api_for, make_ticket, viewer):
    ticket = make_ticket()
    assert api_for(viewer).post(url(ticket, "transition"), {"to": "open"}, format="json").status_code == 403
    assert Ticket.objects.get(pk=ticket.pk).status == "new"


# --- assign, priority ---------------------------------------------------------------------------------------
def test_it_assigns_and_unassigns(api_for, make_ticket, agent, other_agent, other_team):
    ticket = make_ticket()
    client = api_for(agent)
    body = client.post(
        url(ticket, "assign"), {"assignee": other_agent.email, "team": "Network"}, format="json"
    ).json()
    assert (body["assignee"], body["team"]) == (other_agent.email, other_team.name)
    body = client.post(url(ticket, "assign"), {"assignee": None}, format="json").json()
    assert (body["assignee"], body["team"]) == (None, other_team.name)


@pytest.mark.parametrize(
    "payload",
    [{}, {"assignee": "ghost@example.com"}, {"team": "Nope"}, {"assignee": "dave.user@example.com"}],
)
def test_it_refuses_bad_assignments(api_for, make_ticket, agent, payload):
    ticket = make_ticket()
    response = api_for(agent).post(url(ticket, "assign"), payload, format="json")
    assert response.status_code == 400
    assert Ticket.objects.get(pk=ticket.pk).version == 1


def test_it_overrides_the_priority_with_a_reason_kept_in_the_audit(api_for, make_ticket, agent):
    ticket = make_ticket()
    client = api_for(agent)
    response = client.post(
        url(ticket, "priority"), {"priority": "critical", "reason": "Whole floor"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["priority"], response.json()["priority_reason"]) == ("critical", "Whole floor")
    audit = client.get(url(ticket, "audit")).json()["results"]
    assert {
        "field": "priority",
        "old": "medium",
        "new": "critical",
        "actor": agent.email,
        "reason": "Whole floor",
    }.items() <= audit[-1].items()


def test_it_refuses_a_priority_override_without_reason(api_for, make_ticket, agent):
    ticket = make_ticket()
    response = api_for(agent).post(
        url(ticket, "priority"), {"priority": "critical", "reason": " "}, format="json"
    )
    assert response.status_code == 400
    assert Ticket.objects.get(pk=ticket.pk).priority == "medium"


def test_it_refuses_assign_and_priority_to_requesters(api_for, make_ticket, requester, agent):
    ticket = make_ticket()
    client = api_for(requester)
    assert client.post(url(ticket, "assign"), {"assignee": agent.email}, format="json").status_code == 403
    assert (
        client.post(url(ticket, "priority"), {"priority": "high", "reason": "me"}, format="json").status_code
        == 403
    )
    assert Ticket.objects.get(pk=ticket.pk).version == 1


def test_it_documents_the_endpoints_in_the_schema(api_for, agent):
    response = api_for(agent).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/tickets/",
        "/api/tickets/{id}/",
        "/api/tickets/{id}/transition/",
        "/api/tickets/{id}/comments/",
        "/api/tickets/{id}/audit/",
        "/api/tickets/{id}/relations/",
        "/api/tickets/bulk/",
        "/api/tickets/stats/",
        "/api/exports/",
        "/api/exports/{id}/download/",
    ):
        assert path in paths, path
    parameters = {parameter["name"] for parameter in paths["/api/tickets/"]["get"]["parameters"]}
    assert {"status", "priority", "team", "assignee", "search", "page_size", "sort"} <= parameters


def test_it_represents_a_ticket_exactly_as_its_declared_fields(make_ticket, agent, team):
    from rest_framework import serializers

    from tickets.serializers import TicketSerializer

    ticket = make_ticket(tags=["a"], team=team, metadata={"k": 1})
    ticket.assign(to=agent, actor=agent)
    do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="done")
    ticket = Ticket.objects.select_related("requester", "assignee", "team", "category", "organisation").get(
        pk=ticket.pk
    )
    serializer = TicketSerializer(ticket)
    declared = serializers.ModelSerializer.to_representation(serializer, ticket)
    assert serializer.data == declared
    assert list(serializer.data) == list(declared)


@pytest.mark.parametrize("path", ["/api/tickets/", "/api/tickets/1/", "/api/tickets/stats/", "/api/exports/"])
def test_it_answers_anonymous_calls_with_401(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_a_requester_cannot_reopen_a_ticket_that_is_not_resolved(requester, make_ticket, api_for):
    ticket = make_ticket(title="Not resolved yet")
    response = api_for(requester).post(f"/api/tickets/{ticket.pk}/transition/", {"to": "open"}, format="json")
    assert response.status_code == 409
    assert "Only a resolved ticket" in response.json()["detail"]
    ticket.refresh_from_db()
    assert ticket.status == "new"
