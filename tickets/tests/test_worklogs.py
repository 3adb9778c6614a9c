"""Time tracking: with a reply, on its own, the panel, the report and CSV, the API, refusals."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from itsm import kpis
from tickets.actions import do_add_comment, do_delete_worklog, do_log_work, parse_duration
from tickets.models import WORKLOG_MAX_MINUTES, Category, Comment, WorkLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(make_ticket, team, organisation):
    return make_ticket("VPN drops every hour", team=team)


def state() -> list:
    return [
        list(WorkLog.objects.order_by("pk").values_list("ticket", "user", "minutes", "billable")),
        Comment.objects.count(),
    ]


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("45", 45), ("45m", 45), ("1h", 60), ("1h30", 90), ("1h 30m", 90), ("1.5h", 90), ("2,5h", 150), ("", 0)],
)
def test_it_reads_durations(text, minutes):
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["abc", "1x", "h", "-5", "1h-3"])
def test_it_refuses_unreadable_durations(text):
    with pytest.raises(ValidationError):
        parse_duration(text)


def test_time_goes_in_with_a_reply_and_on_its_own(ticket, agent):
    reply = do_add_comment(ticket, actor=agent, body="Replaced the VPN profile", time_spent=25, billable=True)
    do_log_work(ticket, actor=agent, minutes=35, note="Call with the user")
    entries = list(WorkLog.objects.filter(ticket=ticket).order_by("pk"))
    assert [(entry.minutes, entry.billable, entry.comment_id) for entry in entries] == [
        (25, True, reply.pk),
        (35, False, None),
    ]
    assert WorkLog.objects.filter(ticket=ticket).totals() == {"minutes": 60, "billable": 25}


@pytest.mark.parametrize(
    ("minutes", "worked_at"),
    [(0, None), (-5, None), (24 * 60 + 1, None), (30, "future"), (True, None)],
)
def test_bad_entries_are_refused_and_nothing_is_logged(ticket, agent, minutes, worked_at):
    when = timezone.now() + datetime.timedelta(hours=2) if worked_at == "future" else None
    with pytest.raises(ValidationError):
        do_log_work(ticket, actor=agent, minutes=minutes, worked_at=when)
    assert state() == [[], 0]


def test_a_reply_with_bad_time_is_refused_whole(ticket, agent, requester):
    with pytest.raises(ValidationError):
        do_add_comment(ticket, actor=agent, body="Done", time_spent=5000)
    # requesters reply but log no time: the reply is refused whole
    with pytest.raises(PermissionDenied):
        do_add_comment(ticket, actor=requester, body="Thanks", time_spent=5)
    assert state() == [[], 0]


def test_only_agents_who_may_change_the_ticket_log_time(make_ticket, team, other_agent, viewer, requester):
    secret = make_ticket("HR case", sensitive=True, team=team)
    for person in (other_agent, viewer, requester):
        with pytest.raises(PermissionDenied):
            do_log_work(secret, actor=person, minutes=10)
    assert state() == [[], 0]


def test_people_remove_their_own_entries_admins_any(ticket, agent, other_agent, admin_user, team):
    team.members.add(other_agent)
    entry = do_log_work(ticket, actor=agent, minutes=10)
    with pytest.raises(PermissionDenied):
        do_delete_worklog(entry, actor=other_agent)
    do_delete_worklog(entry, actor=admin_user)
    assert not WorkLog.objects.exists()


# --- pages ------------------------------------------------------------------------------------------------
def test_the_reply_box_logs_time_with_the_reply(agent_client, ticket):
    url = reverse("tickets:ticket-comment", args=[ticket.pk])
    response = agent_client.post(url, {"body": "Fixed the profile", "time_spent": "1h15", "billable": "on"})
    assert response.status_code == 302
    assert WorkLog.objects.get().minutes == 75
    refused = agent_client.post(url, {"body": "Again", "time_spent": "soon"})
    assert refused.status_code == 400 and Comment.objects.count() == 1


def test_the_panel_logs_shows_and_removes_time(agent_client, ticket, agent):
    url = reverse("tickets:ticket-worklogs", args=[ticket.pk])
    response = agent_client.post(
        url, {"minutes": "40m", "note": "Remote session"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and "40 min" in response.content.decode()
    assert response.headers["HX-Trigger"].startswith('{"timeLogged"')
    html = agent_client.get(reverse("tickets:ticket-detail", args=[ticket.pk])).content.decode()
    assert 'data-testid="time-total"' in html and "Remote session" in html
    bad = agent_client.post(url, {"minutes": "2000"}, headers={"HX-Request": "true"})
    assert bad.status_code == 400 and "Between 1 and 1440" in bad.content.decode()
    entry = WorkLog.objects.get()
    assert agent_client.post(reverse("tickets:worklog-delete", args=[ticket.pk, entry.pk])).status_code == 302
    assert not WorkLog.objects.exists()


def test_the_panel_refuses_viewers_requesters_and_other_teams(
    client, viewer, requester, other_agent, make_ticket, team
):
    secret = make_ticket("HR case", sensitive=True, team=team)
    client.force_login(viewer)
    assert client.post(
        reverse("tickets:ticket-worklogs", args=[secret.pk]), {"minutes": "5"}
    ).status_code in (403, 404)
    client.force_login(requester)
    assert (
        client.post(reverse("tickets:ticket-worklogs", args=[secret.pk]), {"minutes": "5"}).status_code == 403
    )
    client.force_login(other_agent)
    assert (
        client.post(reverse("tickets:ticket-worklogs", args=[secret.pk]), {"minutes": "5"}).status_code == 404
    )
    assert not WorkLog.objects.exists()


def test_the_report_totals_by_agent_team_organisation_and_ticket(
    agent_client, make_ticket, ticket, agent, other_agent, team, other_team
):
    other_team.members.add(agent)
    network = make_ticket("Switch down", team=other_team)
    do_log_work(ticket, actor=agent, minutes=30, billable=True)
    do_log_work(ticket, actor=agent, minutes=15)
    do_log_work(network, actor=other_agent, minutes=60)
    url = reverse("tickets:time-report")
    by_agent = agent_client.get(url).context["rows"]
    assert [(row["name"], row["minutes"], row["billable"], row["tickets"]) for row in by_agent] == [
        ("Carol Network carol.agent@example.com", 60, 0, 1),
        ("Bob Agent bob.agent@example.com", 45, 30, 1),
    ]
    by_team = agent_client.get(url, {"group": "team"}).context["rows"]
    assert {row["name"]: row["minutes"] for row in by_team} == {"Network": 60, "Service Desk": 45}
    assert {row["name"] for row in agent_client.get(url, {"group": "organisation"}).context["rows"]} == {
        "Acme"
    }
    csv_text = agent_client.get(url, {"group": "ticket", "format": "csv"}).content.decode()
    assert csv_text.splitlines()[0] == "ticket,minutes,billable_minutes,tickets,entries"
    assert f"{network.number} Switch down,60,0,1,1" in csv_text


def test_the_report_counts_only_visible_tickets_in_bounded_queries(
    client, other_agent, make_ticket, team, agent, django_assert_num_queries
):
    secret = make_ticket("HR case", sensitive=True, team=team)
    do_log_work(secret, actor=agent, minutes=30)
    client.force_login(other_agent)
    assert client.get(reverse("tickets:time-report")).context["rows"] == []
    for index in range(5):
        do_log_work(make_ticket(f"Ticket {index}", team=team), actor=agent, minutes=10)
    client.get(reverse("tickets:time-report"))
    # session, user, the aggregate (visibility's teams inside), unread notifications
    with django_assert_num_queries(5):
        client.get(reverse("tickets:time-report"))


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"since": "2026-02-01", "until": "2026-01-01"},
        {"group": "moon"},
        {"since": "2020-01-01", "until": "2026-01-01"},
    ],
)
def test_the_report_refuses_bad_ranges_with_a_400(agent_client, params):
    assert agent_client.get(reverse("tickets:time-report"), params).status_code == 400


def test_the_report_is_for_agents(client, requester, viewer):
    client.force_login(viewer)
    assert client.get(reverse("tickets:time-report")).status_code == 403
    client.force_login(requester)
    assert client.get(reverse("tickets:time-report")).status_code == 302


# --- API --------------------------------------------------------------------------------------------------
def test_api_logs_and_lists_time(api_for, agent, ticket):
    client = api_for(agent)
    url = f"/api/tickets/{ticket.pk}/worklogs/"
    response = client.post(url, {"minutes": 20, "note": "Remote", "billable": True}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["user"] == agent.email
    listed = client.get(url).json()
    assert listed["total_minutes"] == 20 and listed["billable_minutes"] == 20 and len(listed["entries"]) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"minutes": 0},
        {"minutes": 5000},
        {"minutes": "x"},
        {"minutes": 5, "user": "someone@example.com"},
        {"minutes": 5, "worked_at": "2999-01-01T00:00:00Z"},
    ],
)
def test_api_refuses_bad_entries(api_for, agent, ticket, payload):
    assert (
        api_for(agent).post(f"/api/tickets/{ticket.pk}/worklogs/", payload, format="json").status_code == 400
    )
    assert not WorkLog.objects.exists()


def test_api_roles(api_for, requester, viewer, ticket):
    url = f"/api/tickets/{ticket.pk}/worklogs/"
    assert api_for(requester).get(url).status_code == 403
    assert api_for(viewer).post(url, {"minutes": 5}, format="json").status_code == 403
    assert not WorkLog.objects.exists()


def test_the_kpis_total_time_and_time_per_ticket_by_category(make_ticket, team, agent):
    network = Category.objects.create(name="Network")
    first = make_ticket("VPN", team=team, category=network)
    second = make_ticket("Wi-Fi", team=team, category=network)
    other = make_ticket("Printer", team=team)
    do_log_work(first, actor=agent, minutes=30)
    do_log_work(first, actor=agent, minutes=30)
    do_log_work(second, actor=agent, minutes=20)
    do_log_work(other, actor=agent, minutes=90)
    start, end = timezone.now() - datetime.timedelta(days=1), timezone.now() + datetime.timedelta(minutes=1)
    result = kpis.compute(["time_logged_hours", "time_per_ticket_minutes"], start, end, user=agent)
    assert result.value("time_logged_hours") == 2.83
    assert result.value("time_per_ticket_minutes")["median"] == 60
    by_category = kpis.compute(["time_per_ticket_minutes"], start, end, group_by="category", user=agent)
    assert by_category.value("time_per_ticket_minutes", group="Network")["mean"] == 40


# --- the limits at their edges (mutation testing) ------------------------------------------------
def test_an_empty_duration_is_zero_minutes():
    assert parse_duration(None) == 0
    assert parse_duration("  ") == 0


def test_minutes_from_one_to_the_maximum(ticket, agent):
    for minutes in (1, WORKLOG_MAX_MINUTES):
        assert do_log_work(ticket, actor=agent, minutes=minutes).minutes == minutes
    before = state()
    for minutes in (0, WORKLOG_MAX_MINUTES + 1):
        with pytest.raises(ValidationError, match="Between 1 and"):
            do_log_work(ticket, actor=agent, minutes=minutes)
    assert state() == before


def test_work_up_to_five_minutes_ahead_of_the_clock_is_accepted(ticket, agent):
    now = timezone.now().replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        for worked_at in (now - datetime.timedelta(days=1), now + datetime.timedelta(minutes=5)):
            assert do_log_work(ticket, actor=agent, minutes=30, worked_at=worked_at).worked_at == worked_at
        before = state()
        with pytest.raises(ValidationError, match="not in the future"):
            do_log_work(
                ticket, actor=agent, minutes=30, worked_at=now + datetime.timedelta(minutes=5, seconds=1)
            )
        assert state() == before
        late = now + datetime.timedelta(minutes=4, seconds=59)
        assert do_log_work(ticket, actor=agent, minutes=30, worked_at=late).worked_at == late


def test_a_note_of_up_to_500_characters(ticket, agent):
    assert do_log_work(ticket, actor=agent, minutes=5, note=None).note == ""
    assert len(do_log_work(ticket, actor=agent, minutes=5, note="n" * 500).note) == 500
    before = state()
    with pytest.raises(ValidationError, match="At most 500"):
        do_log_work(ticket, actor=agent, minutes=5, note="n" * 501)
    assert state() == before


def test_no_time_logged_totals_zero_minutes(ticket, agent):
    assert WorkLog.objects.filter(ticket=ticket).totals() == {"minutes": 0, "billable": 0}
    do_log_work(ticket, actor=agent, minutes=20)  # not billable
    assert WorkLog.objects.filter(ticket=ticket).totals() == {"minutes": 20, "billable": 0}
