"""POST /api/tickets/bulk/: one action on many tickets, all or nothing."""

import pytest

from tickets.actions import do_transition_ticket
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

BULK = "/api/tickets/bulk/"


@pytest.fixture
def three(make_ticket):
    return [make_ticket(f"Ticket {index}") for index in range(3)]


def state():
    return list(
        Ticket.objects.order_by("pk").values_list("status", "priority", "assignee", "tags", "version")
    )


def test_it_assigns_many_tickets(api_for, agent, team, three):
    response = api_for(agent).post(
        BULK,
        {"ids": [t.pk for t in three], "action": "assign", "assignee": agent.email, "team": "Service Desk"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["count"] == 3
    assert {row["assignee"] for row in response.json()["tickets"]} == {agent.email}
    assert set(Ticket.objects.values_list("team", flat=True)) == {team.pk}


def test_it_changes_status_priority_and_tags(api_for, agent, three):
    client = api_for(agent)
    ids = [t.pk for t in three]
    for payload in (
        {"action": "status", "status": "in_progress"},
        {"action": "priority", "priority": "high", "reason": "Outage"},
        {"action": "tag", "tags": ["outage"]},
    ):
        assert client.post(BULK, {"ids": ids, **payload}, format="json").status_code == 200
    assert set(Ticket.objects.values_list("status", "priority")) == {("in_progress", "high")}
    assert all(tags == ["outage"] for tags in Ticket.objects.values_list("tags", flat=True))


def test_it_closes_many_tickets(api_for, agent, three):
    response = api_for(agent).post(
        BULK,
        {"ids": [t.pk for t in three], "action": "close", "resolution": "Fixed by the network change"},
        format="json",
    )
    assert response.status_code == 200
    assert set(Ticket.objects.values_list("status", flat=True)) == {"closed"}


def test_it_changes_nothing_and_names_the_refused_ids(api_for, agent, three):
    do_transition_ticket(three[1], "cancelled", actor=agent)
    before = state()
    response = api_for(agent).post(
        BULK,
        {"ids": [t.pk for t in three] + [424242], "action": "status", "status": "in_progress"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["ids"] == sorted([three[1].pk, 424242])
    assert "cancelled" in body["errors"][str(three[1].pk)]
    assert body["errors"]["424242"] == "No such ticket."
    assert "Nothing was changed" in body["detail"]
    assert state() == before


def test_it_refuses_a_close_without_resolution_for_unresolved_tickets(api_for, agent, three):
    before = state()
    response = api_for(agent).post(BULK, {"ids": [t.pk for t in three], "action": "close"}, format="json")
    assert response.status_code == 400
    assert len(response.json()["ids"]) == 3
    assert state() == before


def test_it_refuses_ids_of_tickets_the_agent_cannot_see(api_for, agent, make_ticket, other_team, three):
    hidden = make_ticket("hidden", sensitive=True, team=other_team)
    before = state()
    response = api_for(agent).post(
        BULK,
        {"ids": [three[0].pk, hidden.pk], "action": "priority", "priority": "low", "reason": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["ids"] == [hidden.pk]
    assert state() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"action": "close"}, "ids"),
        ({"ids": [], "action": "close"}, "ids"),
        ({"ids": ["x"], "action": "close"}, "ids"),
        ({"ids": list(range(1, 502)), "action": "close"}, "ids"),
        ({"ids": [1], "action": "explode"}, "action"),
        ({"ids": [1], "action": "status"}, "status"),
        ({"ids": [1], "action": "priority"}, "priority"),
        ({"ids": [1], "action": "assign"}, "assignee"),
        ({"ids": [1], "action": "assign", "assignee": "ghost@example.com"}, "assignee"),
        ({"ids": [1], "action": "tag", "tags": 5}, "tags"),
        ({"ids": [1], "action": "tag"}, "tags"),
        ({"ids": [1], "action": "priority", "priority": "high"}, "reason"),
    ],
)
def test_it_refuses_bad_bulk_input(api_for, agent, three, payload, field):
    before = state()
    response = api_for(agent).post(BULK, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert state() == before


def test_it_refuses_bulk_actions_to_requesters_and_viewers(api_for, requester, viewer, three):
    before = state()
    for user in (requester, viewer):
        response = api_for(user).post(
            BULK, {"ids": [three[0].pk], "action": "status", "status": "open"}, format="json"
        )
        assert response.status_code == 403
    assert state() == before


def test_it_changes_nothing_twice_on_a_retry(api_for, agent, three):
    client = api_for(agent)
    payload = {"ids": [t.pk for t in three], "action": "status", "status": "open"}
    assert client.post(BULK, payload, format="json").status_code == 200
    after_first = state()
    assert client.post(BULK, payload, format="json").status_code == 200
    assert state() == after_first


def test_it_changes_the_team_and_keeps_the_assignees(api_for, agent, other_agent, other_team, three):
    from tickets.actions import do_assign_ticket

    do_assign_ticket(three[0], actor=agent, assignee=other_agent)
    response = api_for(agent).post(
        BULK, {"ids": [t.pk for t in three], "action": "assign", "team": "Network"}, format="json"
    )
    assert response.status_code == 200
    assert Ticket.objects.get(pk=three[0].pk).assignee == other_agent
    assert set(Ticket.objects.values_list("team", flat=True)) == {other_team.pk}


def test_it_unassigns_many_tickets_with_an_explicit_null(api_for, agent, three):
    from tickets.actions import do_assign_ticket

    for ticket in three:
        do_assign_ticket(ticket, actor=agent, assignee=agent)
    response = api_for(agent).post(
        BULK, {"ids": [t.pk for t in three], "action": "assign", "assignee": None}, format="json"
    )
    assert response.status_code == 200
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {None}
