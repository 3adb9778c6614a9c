"""The queue page: saved views, filters, search, sorting, pagination, bulk actions."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from itsm.models import Organisation, User
from tickets import extensions
from tickets.actions import do_assign_ticket, do_transition_ticket
from tickets.models import Category, SavedView, Ticket, TicketStatus

pytestmark = pytest.mark.django_db

LIST = reverse("tickets:ticket-list")
BULK = reverse("tickets:ticket-bulk")


def numbers(response) -> list[str]:
    return [ticket.number for ticket in response.context["tickets"]]


def test_it_lists_the_tickets_an_agent_may_see(agent_client, make_ticket, other_team):
    visible = make_ticket("VPN is down")
    hidden = make_ticket("Salary data leak", sensitive=True, team=other_team)
    response = agent_client.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert visible.number in html
    assert hidden.number not in html and "Salary data leak" not in html
    assert 'data-testid="result-count">1 ticket<' in html


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_it_sends_requesters_to_the_portal(client, requester):
    client.force_login(requester)
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:portal-home")


def test_it_shows_viewers_the_list_without_bulk_actions(client, viewer, make_ticket):
    ticket = make_ticket()
    client.force_login(viewer)
    html = client.get(LIST).content.decode()
    assert ticket.number in html
    assert 'name="ids"' not in html
    assert "Apply to selected" not in html


def test_it_refuses_post_on_the_list(agent_client):
    assert agent_client.post(LIST).status_code == 405


def test_it_runs_a_fixed_number_of_queries_for_2_or_20_rows(
    agent_client, make_ticket, agent, team, monkeypatch
):
    # A registered column with its prefetch must not add queries per row either.
    monkeypatch.setitem(
        extensions.queue_columns,
        "watchers",
        extensions.QueueColumn(
            name="watchers", label="Watchers", template="tickets/_pills.html", prefetch=["watchers"]
        ),
    )
    for index in range(2):
        make_ticket(f"Ticket {index}", assignee=agent, team=team, tags=["vpn"])

    def count() -> int:
        agent_client.get(LIST)  # the filter bar and bulk form in the cache (tested on their own)
        with CaptureQueriesContext(connection) as queries:
            response = agent_client.get(LIST)
        assert response.status_code == 200
        return len(queries)

    with_two = count()
    for index in range(18):
        make_ticket(f"More {index}", assignee=agent, team=team, tags=["vpn"])
    assert count() == with_two
    assert len(agent_client.get(LIST).context["tickets"]) == 20


def test_the_query_count_is_pinned(
    agent_client, make_ticket, agent, team, django_assert_num_queries, monkeypatch
):
    # Without the columns other apps register (each adds its one prefetch query, tested above).
    monkeypatch.setattr(extensions, "queue_columns", {})
    for index in range(20):
        make_ticket(f"Ticket {index}", assignee=agent, team=team)
    agent_client.get(LIST)  # warm the session and the cached filter bar, bulk form and views
    # session, user, teams (visibility), count, the page's ids, its rows by id, the cached
    # filter bar, bulk form and saved views (one read), unread notifications. The page in two
    # queries since its single query took PostgreSQL 15-35 ms to plan at 100,000 tickets
    # (tickets/filters.py: CappedCountPaginator.page).
    with django_assert_num_queries(8):
        agent_client.get(LIST)
    # The table's refresh (HTMX, every 30 s): session, user, teams, count, ids, rows.
    with django_assert_num_queries(6):
        agent_client.get(LIST, headers={"HX-Request": "true"})


def test_the_choice_lists_open_no_server_side_cursor(agent_client, make_ticket, agent, team, monkeypatch):
    # Django reads a model choice list through .iterator(): on PostgreSQL a server-side cursor,
    # three round trips (DECLARE, FETCH, CLOSE) per list; the queue reads each in one query.
    make_ticket("Printer jam", assignee=agent, team=team)
    opened = []
    original = connection.chunked_cursor
    monkeypatch.setattr(connection, "chunked_cursor", lambda: opened.append(1) or original())
    response = agent_client.get(LIST)
    assert response.status_code == 200
    assert f'<option value="{team.pk}">{team.name}</option>' in response.content.decode()
    assert opened == []


def test_the_page_keeps_the_sort_order_when_reading_its_rows_by_id(agent_client, make_ticket, team):
    for title in ("Bravo", "Alpha", "Charlie"):
        make_ticket(title, team=team)
    for sort, expected in (
        ("title", ["Alpha", "Bravo", "Charlie"]),
        ("-title", ["Charlie", "Bravo", "Alpha"]),
    ):
        html = agent_client.get(LIST, {"sort": sort}).content.decode()
        assert [html.index(f">{title}</a>") for title in expected] == sorted(
            html.index(f">{title}</a>") for title in expected
        )


def test_the_built_in_views_narrow_the_queue(agent_client, make_ticket, agent, other_agent, team, other_team):
    mine = make_ticket("Mine", assignee=agent)
    unassigned = make_ticket("Nobody's")
    team_ticket = make_ticket("Team's", team=team, assignee=other_agent)
    critical = make_ticket("Critical", impact="high", urgency="high", team=other_team)
    closed = make_ticket("Old", assignee=agent)
    do_transition_ticket(closed, TicketStatus.CANCELLED, actor=None)

    def view(slug: str) -> set[str]:
        return set(numbers(agent_client.get(LIST, {"view": slug})))

    assert view("my-open") == {mine.number}
    assert view("unassigned") == {unassigned.number, critical.number}
    assert view("my-team") == {team_ticket.number}  # "mine" has no team
    assert view("critical") == {critical.number}
    do_assign_ticket(unassigned, actor=None, assignee=agent)
    recent = numbers(agent_client.get(LIST, {"view": "recently-updated"}))
    assert recent[0] == unassigned.number


def test_my_team_is_empty_for_an_agent_without_a_team(client, make_ticket, other_agent, other_team):
    other_team.members.remove(other_agent)
    make_ticket("Something")
    client.force_login(other_agent)
    response = client.get(LIST, {"view": "my-team"})
    assert numbers(response) == []
    assert "You are not in any team yet." in response.content.decode()


def test_it_filters_by_every_field(
    agent_client, make_ticket, agent, team, other_team, requester, other_requester, enterprise
):
    network = Category.objects.create(name="Network")
    big = other_requester
    big.organisation = enterprise
    big.save()
    a = make_ticket(
        "Alpha",
        impact="high",
        urgency="high",
        team=team,
        assignee=agent,
        category=network,
        tags=["vpn", "remote"],
    )
    b = make_ticket("Beta", type="service_request", team=other_team, requester=big, tags=["laptop"])
    Ticket.objects.filter(pk=b.pk).update(created_at=datetime.datetime(2024, 1, 10, tzinfo=datetime.UTC))

    def filtered(**params: object) -> set[str]:
        response = agent_client.get(LIST, params)
        assert response.status_code == 200
        return set(numbers(response))

    assert filtered(status="new") == {a.number, b.number}
    assert filtered(priority="critical") == {a.number}
    assert filtered(type="service_request") == {b.number}
    assert filtered(team=other_team.pk) == {b.number}
    assert filtered(assignee="me") == {a.number}
    assert filtered(assignee="none") == {b.number}
    assert filtered(requester=big.email) == {b.number}
    assert filtered(tier="enterprise") == {b.number}
    assert filtered(category=network.pk) == {a.number}
    assert filtered(tags="vpn,remote") == {a.number}
    assert filtered(created_before="2024-02-01") == {b.number}
    assert filtered(created_after="2024-02-01") == {a.number}


def test_a_bad_filter_shows_an_error_and_no_rows(agent_client, make_ticket):
    make_ticket()
    response = agent_client.get(LIST, {"priority": "urgent-ish"})
    assert response.status_code == 200
    assert numbers(response) == []
    assert "Some filters are not valid" in response.content.decode()


def test_search_ranks_matches_and_finds_a_ticket_number(agent_client, make_ticket):
    title_hit = make_ticket("Printer printer jammed", description="printer")
    body_hit = make_ticket("Something else", description="the printer in room 4")
    other = make_ticket("VPN down")
    assert numbers(agent_client.get(LIST, {"search": "printer"})) == [title_hit.number, body_hit.number]
    assert numbers(agent_client.get(LIST, {"search": other.number.lower()})) == [other.number]


def test_the_count_stops_a_step_past_the_page_and_every_page_stays_reachable(
    agent_client, make_ticket, monkeypatch
):
    from tickets.views import queues

    monkeypatch.setattr(queues, "COUNT_STEP", 10)  # 1,000 in the product
    created = [make_ticket(f"Ticket {index:02d}") for index in range(36)]
    first = agent_client.get(LIST, {"sort": "number"})
    html = first.content.decode()
    # Page 1 (rows 1-25) counts up to 30: "more than 30", two pages or more.
    assert "More than 30 tickets" in html and "Page 1 of 2+" in html
    assert 'rel="next"' in html and numbers(first)[0] == created[0].number
    second = agent_client.get(LIST, {"sort": "number", "page": 2})
    html = second.content.decode()
    # Page 2 (rows 26-50) counts up to 60: all 36, exactly.
    assert "36 tickets" in html and "Page 2 of 2" in html and 'rel="next"' not in html
    assert numbers(second) == [ticket.number for ticket in created[25:]]
    french = agent_client.get(LIST, {"sort": "number"}, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Plus de 30 tickets" in french and "Page 1 sur 2+" in french


@pytest.mark.parametrize(
    ("page", "page_size", "counted"),
    [
        ("", 25, 1000),
        ("1", 25, 1000),
        ("39", 25, 1000),  # rows 951-975: the next page still within the first thousand
        ("40", 25, 2000),  # rows 976-1000: counting to 1,000 would hide page 41
        ("10", 100, 2000),
        ("0", 25, 1000),
        ("-3", 25, 1000),
        ("next", 25, 1000),
        ("9" * 5000, 25, 1000),  # not a page number (and too long for int())
    ],
)
def test_how_far_the_queue_counts(page, page_size, counted):
    from tickets.views.queues import counted_up_to

    assert counted_up_to(page, page_size) == counted


def test_it_sorts_and_paginates(agent_client, make_ticket):
    created = [make_ticket(f"Ticket {index:02d}") for index in range(30)]
    first_page = agent_client.get(LIST, {"sort": "number"})
    assert numbers(first_page)[:2] == [created[0].number, created[1].number]
    assert len(numbers(first_page)) == 25
    html = first_page.content.decode()
    assert "page=2" in html and "sort=number" in html
    second = agent_client.get(LIST, {"sort": "number", "page": 2})
    assert numbers(second) == [ticket.number for ticket in created[25:]]
    assert numbers(agent_client.get(LIST, {"sort": "-number", "page_size": 50}))[0] == created[-1].number
    critical = make_ticket("Fire", impact="high", urgency="high")
    assert numbers(agent_client.get(LIST, {"sort": "priority"}))[0] == critical.number


def test_the_htmx_request_gets_the_table_that_refreshes_itself(agent_client, make_ticket):
    ticket = make_ticket()
    response = agent_client.get(LIST, {"status": "new"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="ticket-queue"')
    assert "<html" not in html
    assert 'hx-trigger="every 30s, ticketUpdated from:body"' in html
    assert 'hx-get="/tickets/?status=new"' in html
    assert ticket.number in html


def test_a_boosted_filter_request_gets_the_whole_page(agent_client, make_ticket):
    make_ticket()
    response = agent_client.get(LIST, {"status": "new"}, HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true")
    assert "<html" in response.content.decode()


def test_the_page_works_without_javascript(agent_client, make_ticket):
    make_ticket()
    html = agent_client.get(LIST).content.decode()
    assert f'<form class="filters" method="get" action="{LIST}" hx-boost="true">' in html
    assert f'<form id="bulk-form" method="post" action="{BULK}"' in html


def test_it_renders_the_queue_in_french(agent_client, make_ticket):
    make_ticket()
    html = agent_client.get(LIST, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'lang="fr"' in html
    assert "Déconnexion" in html


# --- saved views -------------------------------------------------------------------------------------
def test_an_agent_saves_the_current_filters_as_a_view_and_uses_it(agent_client, agent, make_ticket):
    critical = make_ticket("Down", impact="high", urgency="high")
    make_ticket("Meh", impact="low", urgency="low")
    response = agent_client.post(
        reverse("tickets:saved-view-create"),
        {"name": "Fires", "query": "priority=critical&search=&page=3&bogus=1"},
    )
    view = SavedView.objects.get(owner__email="bob.agent@example.com")
    assert view.filters == {"priority": ["critical"]}
    assert response["Location"] == f"{LIST}?saved={view.pk}"
    page = agent_client.get(response["Location"])
    assert numbers(page) == [critical.number]
    assert "Fires" in page.content.decode()


def test_shared_views_without_owner_are_listed_for_everyone(agent_client, make_ticket):
    shared = SavedView.objects.create(name="Shared VPN", slug="vpn", filters={"tags": ["vpn"]})
    tagged = make_ticket("x", tags=["vpn"])
    make_ticket("y")
    page = agent_client.get(LIST, {"saved": shared.pk})
    assert numbers(page) == [tagged.number]


def test_nobody_uses_or_deletes_someone_elses_view(agent_client, other_agent, make_ticket):
    theirs = SavedView.objects.create(
        owner=other_agent, name="Carol's", slug="carol", filters={"tags": ["x"]}
    )
    make_ticket()
    assert len(numbers(agent_client.get(LIST, {"saved": theirs.pk}))) == 1  # their filter is not applied
    assert "Carol&#x27;s" not in agent_client.get(LIST).content.decode()
    assert agent_client.post(reverse("tickets:saved-view-delete", args=[theirs.pk])).status_code == 404
    assert SavedView.objects.filter(pk=theirs.pk).exists()


def test_an_agent_deletes_their_own_view(agent_client, agent):
    mine = SavedView.objects.create(owner=agent, name="Mine", slug="mine")
    assert agent_client.get(reverse("tickets:saved-view-delete", args=[mine.pk])).status_code == 405
    response = agent_client.post(reverse("tickets:saved-view-delete", args=[mine.pk]))
    assert response.status_code == 302
    assert not SavedView.objects.filter(pk=mine.pk).exists()


def test_the_listed_views_follow_every_change_at_once(agent_client, agent, other_agent):
    """The views come from the list cache with the filter bar: a view added, renamed or
    deleted (the agent's own or a shared one) shows on the next page."""

    def listed() -> str:
        return agent_client.get(LIST).content.decode()

    assert "Mine" not in listed()  # kept: the list without views
    mine = SavedView.objects.create(owner=agent, name="Mine", slug="mine")
    shared = SavedView.objects.create(name="Shared VPN", slug="vpn")
    SavedView.objects.create(owner=other_agent, name="Carol only", slug="carol")
    html = listed()
    assert "Mine" in html and "Shared VPN" in html and "Carol only" not in html
    shared.name = "Shared network"
    shared.save()
    assert "Shared network" in listed()
    agent_client.post(reverse("tickets:saved-view-delete", args=[mine.pk]))
    assert ">Mine<" not in listed() and "Shared network" in listed()


def test_a_view_without_a_name_is_refused(agent_client):
    agent_client.post(reverse("tickets:saved-view-create"), {"name": "", "query": "status=new"})
    assert not SavedView.objects.exists()


def test_viewers_cannot_save_views(client, viewer):
    client.force_login(viewer)
    response = client.post(reverse("tickets:saved-view-create"), {"name": "x", "query": ""})
    assert response.status_code == 403
    assert not SavedView.objects.exists()


# --- bulk actions --------------------------------------------------------------------------------------
def test_bulk_assign_changes_every_selected_ticket(agent_client, make_ticket, agent):
    first, second = make_ticket("One"), make_ticket("Two")
    response = agent_client.post(
        BULK,
        {
            "ids": [first.pk, second.pk],
            "action": "assign",
            "assignee": agent.pk,
            "next": f"{LIST}?status=new",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?status=new"
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {agent.pk}


@pytest.mark.parametrize(
    ("data", "check"),
    [
        ({"action": "status", "status": "in_progress"}, lambda t: t.status == "in_progress"),
        ({"action": "priority", "priority": "low", "reason": "noise"}, lambda t: t.priority == "low"),
        ({"action": "tag", "tag": "Outage"}, lambda t: "outage" in t.tags),
        ({"action": "close", "resolution": "Fixed upstream"}, lambda t: t.status == "closed"),
    ],
)
def test_each_bulk_action_applies(agent_client, make_ticket, data, check):
    tickets = [make_ticket("One"), make_ticket("Two")]
    response = agent_client.post(BULK, {"ids": [t.pk for t in tickets], **data})
    assert response.status_code == 302
    for ticket in tickets:
        ticket.refresh_from_db()
        assert check(ticket)


def test_bulk_is_all_or_nothing_and_names_the_failures(agent_client, make_ticket):
    good = make_ticket("Good")
    final = make_ticket("Final")
    do_transition_ticket(final, TicketStatus.CANCELLED, actor=None)
    response = agent_client.post(
        BULK, {"ids": [good.pk, final.pk], "action": "status", "status": "in_progress"}
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Nothing was changed" in html
    assert final.number in html
    good.refresh_from_db()
    assert good.status == TicketStatus.NEW


def test_bulk_reports_tickets_the_agent_cannot_see(agent_client, make_ticket, other_team):
    mine = make_ticket("Fine")
    secret = make_ticket("Secret", sensitive=True, team=other_team)
    response = agent_client.post(BULK, {"ids": [mine.pk, secret.pk], "action": "tag", "tag": "x"})
    assert response.status_code == 409
    assert f"#{secret.pk}" in response.content.decode()
    assert "Secret" not in response.content.decode()
    mine.refresh_from_db()
    assert mine.tags == []


def test_bulk_with_bad_input_changes_nothing(agent_client, make_ticket):
    ticket = make_ticket()
    assert agent_client.post(BULK, {"ids": [ticket.pk], "action": "explode"}).status_code == 400
    assert agent_client.post(BULK, {"ids": ["abc"], "action": "tag", "tag": "x"}).status_code == 400
    assert agent_client.post(BULK, {"action": "tag", "tag": "x"}).status_code == 400
    response = agent_client.post(BULK, {"ids": [ticket.pk], "action": "status"})
    assert response.status_code == 400
    assert "This action needs a value." in response.content.decode()
    ticket.refresh_from_db()
    assert (ticket.status, ticket.tags) == (TicketStatus.NEW, [])


def test_bulk_over_htmx_answers_with_the_table_and_a_message(agent_client, make_ticket):
    ticket = make_ticket()
    response = agent_client.post(
        BULK,
        {"ids": [ticket.pk], "action": "tag", "tag": "vip", "next": f"{LIST}?tags=vip"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="ticket-queue"')
    assert "Updated 1 ticket(s)." in html
    assert ticket.number in html  # the list of ?tags=vip now holds it


def test_bulk_refusal_over_htmx_is_a_409_with_the_message(agent_client, make_ticket):
    ticket = make_ticket()
    do_transition_ticket(ticket, TicketStatus.CANCELLED, actor=None)
    response = agent_client.post(
        BULK, {"ids": [ticket.pk], "action": "status", "status": "open"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert ticket.number in response.content.decode()


def test_viewers_and_requesters_cannot_run_bulk_actions(client, viewer, requester, make_ticket):
    ticket = make_ticket()
    for user in (viewer, requester):
        client.force_login(user)
        assert client.post(BULK, {"ids": [ticket.pk], "action": "tag", "tag": "x"}).status_code == 403
    ticket.refresh_from_db()
    assert ticket.tags == []


def test_bulk_refuses_get(agent_client):
    assert agent_client.get(BULK).status_code == 405


def test_bulk_ignores_an_outside_next_url(agent_client, make_ticket):
    ticket = make_ticket()
    response = agent_client.post(
        BULK, {"ids": [ticket.pk], "action": "tag", "tag": "x", "next": "https://evil.example/"}
    )
    assert response["Location"] == LIST


def test_the_organisation_tier_shows_in_the_row(agent_client, make_ticket, requester):
    requester.organisation = Organisation.objects.create(name="Initech", tier="business")
    requester.save()
    make_ticket("Stapler")
    assert "Initech · Business" in agent_client.get(LIST).content.decode()


def test_a_row_shows_every_cell_escaped_and_translated(agent_client, make_ticket, agent, team, requester):
    category = Category.objects.create(name="Network & <Wi-Fi>")
    requester.organisation = Organisation.objects.create(name="Big <Co>", tier="enterprise")
    requester.save()
    ticket = make_ticket(
        '<script>alert("x")</script> VPN', team=team, assignee=agent, category=category, tags=["vpn", "<b>"]
    )
    Ticket.objects.filter(pk=ticket.pk).update(sensitive=True, organisation=requester.organisation)
    bare = make_ticket("Printer")
    html = agent_client.get(LIST).content.decode()
    row = html[html.index(f'<tr id="ticket-row-{ticket.pk}"') :]
    row = row[: row.index("</tr>")]
    url = reverse("tickets:ticket-detail", args=[ticket.pk])
    assert 'class="sensitive"' in row
    assert f'aria-label="Select {ticket.number}"' in row
    assert f'<td class="number"><a href="{url}">{ticket.number}</a></td>' in row
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; VPN</a>" in row and "<script>" not in row
    assert '<span class="chip">vpn</span> <span class="chip">&lt;b&gt;</span>' in row
    assert '<small class="muted">Network &amp; &lt;Wi-Fi&gt;</small>' in row
    assert '<span class="pill status-new">New</span>' in row
    assert f'<span class="pill {ticket.priority}">' in row
    assert f"<td>{agent}</td><td>{team.name}</td>" in row
    assert '<small class="muted">Big &lt;Co&gt; · Enterprise</small>' in row
    assert '<td class="column-sla">' in row
    assert "ago</time>" in row
    empty = html[html.index(f'<tr id="ticket-row-{bare.pk}"') :]
    assert "<td>—</td><td>—</td>" in empty[: empty.index("</tr>")]
    french = agent_client.get(LIST, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert f'aria-label="Sélectionner {ticket.number}"' in french
    assert '<span class="pill status-new">Nouveau</span>' in french


def test_an_empty_queue_says_so(agent_client):
    assert "No tickets match." in agent_client.get(LIST, {"search": "nothing like this"}).content.decode()


def test_a_rows_date_is_written_in_each_readers_zone_and_language(make_ticket):
    """The full date in a row's title is kept per process: two zones showing one instant, or
    two languages, still each get their own (aware datetimes of one instant are equal)."""
    from django.utils import timezone, translation

    from tickets.queue_rows import load_rows, render_rows

    ticket = make_ticket("VPN is down")
    Ticket.objects.filter(pk=ticket.pk).update(
        updated_at=datetime.datetime(2026, 3, 5, 23, 30, tzinfo=datetime.UTC)
    )

    def title() -> str:
        html = render_rows(load_rows([ticket.pk]), [], can_write=False)
        return html.split(' title="')[-1].split('"')[0]

    with timezone.override("UTC"):
        assert title() == "March 5, 2026, 11:30 p.m."
        with translation.override("fr"):
            assert title() == "5 mars 2026 23:30"
    with timezone.override("Europe/Paris"):
        assert title() == "March 6, 2026, 12:30 a.m."
        with translation.override("fr"):
            assert title() == "6 mars 2026 00:30"


def test_a_list_without_team_or_category_filters_builds_no_query_of_them(
    agent, make_ticket, team, compiled_models
):
    """An empty choice is an empty list: ``queryset.none()`` would be compiled (and found empty)
    by the filter's truth test on every list, the queue's and the API's."""
    from django.http import QueryDict
    from django.test import RequestFactory

    from itsm.models import Team
    from tickets.filters import TicketFilter

    make_ticket("VPN is down", team=team)
    request = RequestFactory().get(LIST)
    request.user = agent
    with compiled_models() as compiled:
        listed = TicketFilter(QueryDict("status=new"), Ticket.objects.all(), request=request)
        assert [ticket.title for ticket in listed.qs] == ["VPN is down"]
    assert Team not in compiled and Category not in compiled and Ticket in compiled
    chosen = TicketFilter(QueryDict(f"team={team.pk}"), Ticket.objects.all(), request=request)
    assert [ticket.title for ticket in chosen.qs] == ["VPN is down"]
    assert not TicketFilter(QueryDict("team=9999"), Ticket.objects.all(), request=request).is_valid()


def test_a_person_without_a_full_name_is_shown_by_their_address(agent_client, make_ticket, agent, requester):
    User.objects.filter(pk__in=[agent.pk, requester.pk]).update(full_name="")
    make_ticket("Printer", assignee=agent)
    row = agent_client.get(LIST).content.decode()
    assert f"<td>{agent.email}</td>" in row and f"<td>{requester.email}" in row


def test_a_column_reads_its_fields_and_loads_its_data_with_the_rows(
    agent_client, make_ticket, team, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(extensions, "queue_columns", {})
    for index in range(3):
        make_ticket(f"Ticket {index}", team=team, channel="email" if index else "portal")
    loaded = []

    def load(tickets):
        loaded.append([ticket.number for ticket in tickets])
        for ticket in tickets:
            ticket.flag = "★" if ticket.channel == "portal" else ""

    column = extensions.QueueColumn(
        name="channel",
        label="Channel",
        fields=["channel"],
        load=load,
        render=lambda ticket: f"{ticket.channel}{ticket.flag}",
    )
    monkeypatch.setitem(extensions.queue_columns, "channel", column)
    agent_client.get(LIST)
    with django_assert_num_queries(8):  # as without the column: its field comes with the rows
        html = agent_client.get(LIST).content.decode()
    assert html.count('<td class="column-channel">email</td>') == 2
    assert html.count('<td class="column-channel">portal★</td>') == 1
    assert len(loaded[-1]) == 3  # the page's tickets, loaded once


def test_the_rows_query_is_written_once_per_process(agent_client, make_ticket, agent, team, compiled_models):
    # The rows by id and the names they show are compiled the first time only; a view of the
    # queue compiles its count and its ids (they follow the filters), nothing of the rows.
    make_ticket("VPN is down", assignee=agent, team=team)
    agent_client.get(LIST)
    with compiled_models() as compiled:
        assert "VPN is down" in agent_client.get(LIST).content.decode()
    assert compiled.count(Ticket) == 2
    assert Organisation not in compiled and Category not in compiled


def test_the_filters_form_is_built_once_and_still_speaks_each_language(agent_client, make_ticket, agent):
    from django.http import QueryDict
    from django.test import RequestFactory

    from tickets.filters import TicketFilter

    request = RequestFactory().get(LIST)
    request.user = agent
    first = TicketFilter(QueryDict("status=new"), Ticket.objects.all(), request=request)
    second = TicketFilter(QueryDict("status=bogus"), Ticket.objects.all(), request=request)
    assert type(first.form) is type(second.form)  # one class; each form its own fields and data
    assert first.is_valid() and not second.is_valid()
    assert first.form.fields["status"] is not second.form.fields["status"]
    make_ticket()
    english = agent_client.get(LIST).content.decode()
    french = agent_client.get(LIST, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<label for="id_status">Status:</label>' in english
    assert '<label for="id_status">Statut\u00a0:</label>' in french
    assert '<option value="new">Nouveau</option>' in french


def test_a_rows_age_reads_as_djangos_timesince_in_each_language():
    """The words of "… ago" are kept per minute count for ages under a month: each pair of
    moments, across month ends, leap days and the year, reads as ``timesince`` has it."""
    import random

    from django.utils import translation
    from django.utils.timesince import timesince

    from tickets.queue_rows import _ago

    draw = random.Random(19)
    starts = [
        datetime.datetime(2024, 2, 28, 23, 59, 30, tzinfo=datetime.UTC),
        datetime.datetime(2026, 1, 31, 12, 0, tzinfo=datetime.UTC),
        datetime.datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 31, 23, 0, tzinfo=datetime.UTC),
    ]
    spans = [0, 1, 59, 60, 61, 3599, 3600, 86399, 86400, 604800, 27 * 86400, 2419200, 2592000, 2678400]
    pairs = [(start, start + datetime.timedelta(seconds=span)) for start in starts for span in spans]
    pairs += [
        (start, start + datetime.timedelta(seconds=draw.uniform(-86400, 40 * 86400)))
        for start in starts
        for _ in range(150)
    ]
    for language in ("en", "fr"):
        with translation.override(language):
            for moment, now in pairs:
                assert _ago(moment, now) == timesince(moment, now), (moment, now)
            paris = now.astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
            assert _ago(moment, paris) == timesince(moment, paris)
