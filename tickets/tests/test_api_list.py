"""GET /api/tickets/: filters, search, sort, pages, a fixed number of queries; stats."""

import datetime as dt

import pytest
import time_machine

from itsm.models import Organisation
from tickets.actions import do_assign_ticket, do_transition_ticket
from tickets.models import Category

pytestmark = pytest.mark.django_db


def titles(response):
    assert response.status_code == 200, response.json()
    return [row["title"] for row in response.json()["results"]]


@pytest.fixture
def desk(make_ticket, agent, other_agent, team, other_team, requester, other_requester):
    """Five tickets spread over statuses, priorities, teams, assignees, categories and tags."""
    network = Category.objects.create(name="Network")
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), tick=False):
        vpn = make_ticket(
            "VPN drops every hour", impact="high", urgency="high", category=network, tags=["vpn"]
        )
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC), tick=False):
        printer = make_ticket("Printer jammed", impact="low", urgency="low", team=team)
    with time_machine.travel(dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC), tick=False):
        laptop = make_ticket(
            "New laptop", type="service_request", requester=other_requester, tags=["hardware"]
        )
    with time_machine.travel(dt.datetime(2026, 3, 4, 9, tzinfo=dt.UTC), tick=False):
        wifi = make_ticket(
            "Wifi slow in room B",
            impact="high",
            urgency="medium",
            team=other_team,
            category=network,
            tags=["vpn", "wifi"],
        )
    with time_machine.travel(dt.datetime(2026, 3, 5, 9, tzinfo=dt.UTC), tick=False):
        mail = make_ticket("Mailbox full")
    do_assign_ticket(printer, actor=agent, assignee=agent)
    do_assign_ticket(wifi, actor=agent, assignee=other_agent)
    do_transition_ticket(printer, "open", actor=agent)
    do_transition_ticket(mail, "resolved", actor=agent, resolution="Archived old mail")
    return {"vpn": vpn, "printer": printer, "laptop": laptop, "wifi": wifi, "mail": mail}


def test_it_lists_newest_first(api_for, agent, desk):
    assert titles(api_for(agent).get("/api/tickets/")) == [
        "Mailbox full",
        "Wifi slow in room B",
        "New laptop",
        "Printer jammed",
        "VPN drops every hour",
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, ["Printer jammed"]),
        ({"status": ["open", "resolved"]}, ["Mailbox full", "Printer jammed"]),
        ({"priority": "critical"}, ["VPN drops every hour"]),
        ({"status": "new", "priority": "high"}, ["Wifi slow in room B"]),
        ({"type": "service_request"}, ["New laptop"]),
        ({"team": "Network"}, ["Wifi slow in room B"]),
        ({"assignee": "bob.agent@example.com"}, ["Printer jammed"]),
        ({"assignee": "none", "status": "new"}, ["New laptop", "VPN drops every hour"]),
        ({"requester": "erin.user@example.com"}, ["New laptop"]),
        ({"tier": "standard", "type": "service_request"}, ["New laptop"]),
        ({"category": "Network"}, ["Wifi slow in room B", "VPN drops every hour"]),
        ({"tags": "vpn,wifi"}, ["Wifi slow in room B"]),
        ({"created_after": "2026-03-02", "created_before": "2026-03-03"}, ["New laptop", "Printer jammed"]),
        ({"search": "laptop"}, ["New laptop"]),
    ],
)
def test_it_filters_the_list(api_for, agent, desk, params, expected):
    assert titles(api_for(agent).get("/api/tickets/", params)) == expected


def test_it_filters_on_me_and_by_team_id(api_for, agent, other_team, desk):
    client = api_for(agent)
    assert titles(client.get("/api/tickets/", {"assignee": "me"})) == ["Printer jammed"]
    assert titles(client.get("/api/tickets/", {"team": other_team.pk})) == ["Wifi slow in room B"]


def test_it_finds_a_ticket_by_its_number(api_for, agent, desk):
    number = desk["printer"].number
    assert titles(api_for(agent).get("/api/tickets/", {"search": number.lower()})) == ["Printer jammed"]


def test_it_ranks_search_results(api_for, agent, make_ticket):
    make_ticket("Printer", description="the VPN mentioned once")
    make_ticket("VPN VPN broken", description="vpn vpn vpn")
    assert titles(api_for(agent).get("/api/tickets/", {"search": "vpn"})) == ["VPN VPN broken", "Printer"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (
            "created",
            ["VPN drops every hour", "Printer jammed", "New laptop", "Wifi slow in room B", "Mailbox full"],
        ),
        # Within a priority, oldest first (the queue order of a desk working critical tickets first).
        (
            "priority",
            ["VPN drops every hour", "Wifi slow in room B", "New laptop", "Mailbox full", "Printer jammed"],
        ),
        (
            "-priority",
            ["Printer jammed", "Mailbox full", "New laptop", "Wifi slow in room B", "VPN drops every hour"],
        ),
        (
            "-title",
            ["Wifi slow in room B", "VPN drops every hour", "Printer jammed", "New laptop", "Mailbox full"],
        ),
    ],
)
def test_it_sorts_the_list(api_for, agent, desk, sort, expected):
    assert titles(api_for(agent).get("/api/tickets/", {"sort": sort})) == expected


def test_it_pages_the_list(api_for, agent, desk):
    body = api_for(agent).get("/api/tickets/", {"page_size": 2, "page": 2}).json()
    assert body["count"] == 5
    assert [row["title"] for row in body["results"]] == ["New laptop", "Printer jammed"]
    assert body["next"] and body["previous"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"priority": "p1"}, "priority"),
        ({"team": "Nope"}, "team"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"sort": "colour"}, "sort"),
        ({"stauts": "open"}, "detail"),
    ],
)
def test_it_refuses_bad_filters(api_for, agent, desk, params, field):
    response = api_for(agent).get("/api/tickets/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_it_caps_the_count_of_a_long_list(api_for, agent, desk, monkeypatch):
    from tickets.filters import CappedCountPaginator

    client = api_for(agent)
    assert client.get("/api/tickets/").json()["count_is_exact"] is True
    monkeypatch.setattr(CappedCountPaginator, "count_limit", 3)
    body = client.get("/api/tickets/", {"page_size": 2}).json()
    assert (body["count"], body["count_is_exact"]) == (3, False)
    assert body["next"]
    assert client.get("/api/tickets/", {"page_size": 2, "status": "new"}).json()["count_is_exact"] is True


def test_it_answers_404_for_a_page_past_the_end(api_for, agent, desk):
    assert api_for(agent).get("/api/tickets/", {"page": 9}).status_code == 404


def test_it_lists_only_what_each_role_sees(
    api_for, desk, requester, other_requester, viewer, make_ticket, team, other_agent
):
    make_ticket("HR case", sensitive=True, team=team, requester=other_requester)
    assert set(titles(api_for(requester).get("/api/tickets/"))) == {
        "VPN drops every hour",
        "Printer jammed",
        "Wifi slow in room B",
        "Mailbox full",
    }
    assert set(titles(api_for(other_requester).get("/api/tickets/"))) == {"New laptop", "HR case"}
    assert "HR case" not in titles(api_for(viewer).get("/api/tickets/"))
    assert "HR case" not in titles(api_for(other_agent).get("/api/tickets/"))


@pytest.mark.parametrize("rows", [2, 20])
def test_it_lists_in_a_fixed_number_of_queries(
    api_for, agent, make_ticket, team, other_agent, rows, django_assert_num_queries
):
    category = Category.objects.create(name="Hardware")
    enterprise = Organisation.objects.create(name="Big", tier="enterprise")
    for index in range(rows):
        ticket = make_ticket(f"Ticket {index}", team=team, category=category, tags=["a", "b"])
        do_assign_ticket(ticket, actor=agent, assignee=other_agent)
    agent.organisation = enterprise
    agent.save()
    client = api_for(agent)
    client.get("/api/tickets/")  # the token's last-use stamp is written once a minute, not per call
    # token, teams of the caller (visibility), count, the page's ids, its rows by id
    with django_assert_num_queries(6):  # + the API throttle's counter
        response = client.get("/api/tickets/", {"page_size": 50})
    assert len(response.json()["results"]) == rows


# --- stats ---------------------------------------------------------------------------------------------
def test_it_counts_by_status_priority_category_and_team(api_for, agent, desk):
    body = api_for(agent).get("/api/tickets/stats/").json()
    assert body["total"] == 5
    assert body["by_status"] == {"new": 3, "open": 1, "resolved": 1}
    assert body["by_priority"] == {"critical": 1, "high": 1, "low": 1, "medium": 2}
    assert {row["name"]: row["count"] for row in body["by_category"]} == {"Network": 2, None: 3}
    assert {row["name"]: row["count"] for row in body["by_team"]} == {
        None: 3,
        "Service Desk": 1,
        "Network": 1,
    }


def test_it_counts_only_visible_and_filtered_tickets(api_for, requester, agent, desk):
    assert api_for(requester).get("/api/tickets/stats/").json()["total"] == 4
    body = api_for(agent).get("/api/tickets/stats/", {"category": "Network"}).json()
    assert body["by_status"] == {"new": 2}


def test_it_counts_in_a_fixed_number_of_queries(api_for, agent, desk, django_assert_num_queries):
    client = api_for(agent)
    client.get("/api/tickets/stats/")
    with django_assert_num_queries(4):  # token, throttle counter, teams, one scan with GROUPING SETS
        client.get("/api/tickets/stats/")


def test_it_refuses_bad_stats_filters(api_for, agent, desk):
    assert api_for(agent).get("/api/tickets/stats/", {"status": "done"}).status_code == 400
