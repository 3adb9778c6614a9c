"""The SLA panel, the queue badge, filter and sort registered with tickets.extensions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from sla.models import TicketSLA
from sla.sweep import run_sweep
from sla.templatetags.sla_tags import BADGE_FIELDS, duration, most_urgent, short_duration
from sla.tests.conftest import T0
from tickets import extensions
from tickets.actions import do_add_comment, do_transition_ticket
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def critical(make_ticket, **fields):
    return make_ticket(impact="high", urgency="high", **fields)


def panel_url(ticket) -> str:
    return f"/sla/ticket/{ticket.pk}/panel/"


def test_the_panel_shows_both_clocks_pauses_and_events(client, make_ticket, agent, team, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket, assignee=agent, team=team)
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)
        do_transition_ticket(ticket, "pending_customer", actor=agent)
    client.force_login(agent)
    with clock_at(T0 + timedelta(minutes=20)):
        response = client.get(panel_url(ticket))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and f"SLA of {ticket.number}" in html
    assert 'id="sla-clock-response"' in html and 'id="sla-clock-resolution"' in html
    assert 'class="pill paused"' in html
    assert "Pending customer: 2026-03-02 09:16" in html
    assert "Breach" in html and "Escalation 1" in html


def test_the_panel_renders_only_its_partial_for_htmx(client, make_ticket, agent, policies):
    ticket = make_ticket()
    client.force_login(agent)
    response = client.get(panel_url(ticket), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith(f'<section id="sla-panel-{ticket.pk}"')
    assert "Resolution" in html


def test_the_panel_says_when_no_policy_applies(client, make_ticket, agent, policies):
    from sla.models import SLAPolicy

    SLAPolicy.objects.update(is_active=False)
    ticket = make_ticket()
    client.force_login(agent)
    assert "No SLA policy applies." in client.get(panel_url(ticket)).content.decode()


def test_the_panel_checks_access(client, make_ticket, agent, other_agent, requester, viewer, team, policies):
    ticket = make_ticket(sensitive=True, team=team)
    assert client.get(panel_url(ticket)).status_code == 302  # to the login page
    client.force_login(other_agent)
    assert client.get(panel_url(ticket)).status_code == 404
    client.force_login(requester)
    assert client.get(panel_url(ticket)).status_code == 403
    client.force_login(viewer)
    assert client.get(panel_url(make_ticket(title="Open one"))).status_code == 200
    client.force_login(agent)
    assert client.get(panel_url(ticket)).status_code == 200
    assert client.post(panel_url(ticket)).status_code == 405


def test_the_advisory_risk_shows_only_in_assist_mode(
    client, make_ticket, agent, clock_at, settings, policies
):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=100)):
        run_sweep()
    client.force_login(agent)
    assert "Breach risk (advisory)" not in client.get(panel_url(ticket)).content.decode()
    settings.SLA_RISK_MODE = "assist"
    html = client.get(panel_url(ticket)).content.decode()
    assert "Breach risk (advisory)" in html
    assert "heuristic-v1" in html


def test_the_queue_cell_renders_colour_coded_badges_at_a_fixed_query_count(
    make_ticket, agent, clock_at, policies, django_assert_num_queries
):
    with clock_at(T0):
        breached = critical(make_ticket, title="Down")
        at_risk = make_ticket(title="Slow", impact="high", urgency="medium")  # high: 30 min response
        met = critical(make_ticket, title="Answered")
        do_add_comment(met, actor=agent, body="Hi")
        do_transition_ticket(met, "resolved", actor=agent, resolution="done")
        for n in range(5):
            make_ticket(title=f"Filler {n}")
    column = extensions.queue_columns["sla"]
    with clock_at(T0 + timedelta(minutes=26)), CaptureQueriesContext(connection) as queries:
        tickets = list(Ticket.objects.order_by("pk"))
        column.load(tickets)  # the clocks, one query of the columns the badge reads
        cells = {ticket.pk: column.render(ticket) for ticket in tickets}
    assert len(queries) == 2
    read = queries.captured_queries[1]["sql"]
    assert all(f'"sla_ticketsla"."{name}"' in read for name in BADGE_FIELDS)
    assert '"sla_ticketsla"."target_seconds"' not in read and "tickets_ticket" not in read
    assert 'class="pill breached"' in cells[breached.pk] and "overdue 11m" in cells[breached.pk]
    assert 'class="pill at_risk"' in cells[at_risk.pk] and "4m left" in cells[at_risk.pk]
    assert 'class="pill completed"' in cells[met.pk] and "met" in cells[met.pk]
    # The due time in the title, in the desk's time zone, and the cell is what the queue shows.
    due = breached.sla_clocks.get(metric="response").due_at
    assert f'title="Response · due {due:%Y-%m-%d %H:%M}"' in cells[breached.pk]


def test_the_badge_speaks_the_readers_language_each_time(make_ticket, agent, clock_at, policies):
    """Its words are translated once per language and process: each reader still gets theirs,
    and a ticket read without a prefetch reads its clocks."""
    with clock_at(T0):
        ticket = critical(make_ticket, title="Down")
    column = extensions.queue_columns["sla"]
    prefetched = Ticket.objects.prefetch_related("sla_clocks").get(pk=ticket.pk)
    with clock_at(T0 + timedelta(minutes=26)):
        english = column.render(prefetched)
        with translation.override("fr"):
            french = column.render(prefetched)
        assert column.render(Ticket.objects.get(pk=ticket.pk)) == english  # no prefetch: read
    assert "overdue 11m" in english and 'title="Response · due ' in english
    assert "en retard de 11m" in french and 'title="Réponse · échéance ' in french


def test_a_ticket_without_clocks_shows_no_sla(make_ticket, policies):
    from sla.models import SLAPolicy

    SLAPolicy.objects.update(is_active=False)
    ticket = Ticket.objects.prefetch_related("sla_clocks").get(pk=make_ticket().pk)
    assert extensions.queue_columns["sla"].render(ticket) == '<span class="muted">no SLA</span>'


def test_the_queue_filter_narrows_by_clock_state(make_ticket, agent, clock_at, policies):
    with clock_at(T0):
        breached = critical(make_ticket, title="Down")
        calm = make_ticket(title="Calm", impact="low", urgency="low")
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)
    sla_filter = extensions.queue_filters["sla"]
    assert ("breached", "Breached") in [(value, str(label)) for value, label in sla_filter.choices]
    assert list(sla_filter.apply(Ticket.objects.all(), ["breached"])) == [breached]
    assert set(sla_filter.apply(Ticket.objects.all(), ["on_track"])) == {
        breached,
        calm,
    }  # breached's resolution
    assert sla_filter.apply(Ticket.objects.all(), ["nonsense"]).count() == 2  # unknown values are ignored
    # Through the shared ticket filter of the queue pages and GET /api/tickets/.
    from tickets.filters import TicketFilter

    assert list(TicketFilter(data=QueryDict("sla=breached"), queryset=Ticket.objects.all()).qs) == [breached]


def test_the_sla_due_sort_puts_breaching_next_first(make_ticket, agent, clock_at, policies):
    with clock_at(T0):
        low = make_ticket(title="Low", impact="low", urgency="low")
        critical_one = critical(make_ticket, title="Critical")
        medium = make_ticket(title="Medium")
        done = critical(make_ticket, title="Done")
        do_add_comment(done, actor=agent, body="hi")
        do_transition_ticket(done, "resolved", actor=agent, resolution="done")
    sort = extensions.queue_sorts["sla_due"]
    ordered = list(sort.apply(Ticket.objects.all(), False))
    assert ordered == [critical_one, medium, low, done]
    assert list(sort.apply(Ticket.objects.all(), True))[:3] == [low, medium, critical_one]


def test_the_detail_panel_is_registered_for_agents():
    panel = extensions.detail_panels["sla"]
    assert (panel.url_name, panel.agents_only) == ("sla:ticket-panel", True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "<1m"),
        (59, "<1m"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h 00m"),
        (3700, "1h 01m"),
        (-7200, "2h 00m"),
        (86399, "23h 59m"),
        (86400, "1d 0h"),
        (90000, "1d 1h"),
    ],
)
def test_short_durations(seconds, text):
    assert short_duration(seconds) == text


def test_the_queue_page_and_the_ticket_page_show_the_sla(client, make_ticket, agent, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket, title="Mail down")
    client.force_login(agent)
    with clock_at(T0 + timedelta(minutes=5)):
        queue = client.get("/tickets/", {"sla": "on_track", "sort": "sla_due"})
        detail = client.get(f"/tickets/{ticket.pk}/")
    assert queue.status_code == 200
    assert 'class="pill ok"' in queue.content.decode() and "10m left" in queue.content.decode()
    assert detail.status_code == 200
    assert f'hx-get="{panel_url(ticket)}"' in detail.content.decode()


def test_the_duration_filter_of_the_panel():
    assert duration(None) == "" and duration(5400) == "1h 30m" and duration(0) == "<1m"


def clock_in(state: str, *, due_minutes: int, metric: str = "response") -> TicketSLA:
    """An unsaved clock in ``state`` at NOW, due ``due_minutes`` from NOW."""
    due = NOW + timedelta(minutes=due_minutes)
    clock = TicketSLA(metric=metric, state="on_track", due_at=due, warn_at=due - timedelta(minutes=10))
    if state == "ok":
        clock.warn_at = None  # no warning time: on track until due
    elif state == "paused":
        clock.paused_since = NOW - timedelta(minutes=1)
    elif state == "completed":
        clock.stopped_at = due - timedelta(minutes=1)
    elif state == "cancelled":
        clock.state, clock.stopped_at = "cancelled", NOW
    return clock


NOW = T0 + timedelta(hours=5)


@pytest.mark.parametrize(
    ("urgent", "urgent_due", "other", "other_due"),
    [
        ("breached", -5, "at_risk", 5),  # (a breached clock is due before any other)
        ("at_risk", 5, "ok", 1),
        ("ok", 120, "paused", 30),
        ("paused", 300, "completed", 60),
        ("completed", 300, "cancelled", 60),
    ],
)
def test_the_badge_shows_the_most_urgent_clock_whatever_their_order(urgent, urgent_due, other, other_due):
    """Breached, at risk, on track, paused, met, cancelled: the less urgent clock is due sooner
    (but for a breached one), so only the urgency puts the other first."""
    first = clock_in(urgent, due_minutes=urgent_due, metric="resolution")
    second = clock_in(other, due_minutes=other_due)
    assert first.status_at(NOW) == urgent and second.status_at(NOW) == other
    for clocks in ([first, second], [second, first]):
        assert most_urgent(clocks, NOW)["status"] == urgent


@pytest.mark.parametrize(
    ("seconds_past_due", "text"), [(0, "breached"), (1, "overdue <1m"), (-1, "<1m left"), (61, "overdue 1m")]
)
def test_the_badge_at_the_due_time(seconds_past_due, text):
    due = NOW - timedelta(seconds=seconds_past_due)
    clock = TicketSLA(metric="response", state="on_track", due_at=due, warn_at=due - timedelta(minutes=10))
    assert most_urgent([clock], NOW)["text"] == text


def test_a_cancelled_clock_says_so():
    badge = most_urgent([clock_in("cancelled", due_minutes=30)], NOW)
    assert (badge["status"], badge["text"]) == ("cancelled", "cancelled (merged)")
    assert most_urgent([TicketSLA(metric="response", state="on_track", due_at=None)], NOW) is None


def test_the_queue_reads_the_badges_clocks_with_a_query_written_once(
    client, agent, make_ticket, clock_at, policies, compiled_models
):
    with clock_at(T0):
        ticket = critical(make_ticket, title="Down")
    client.force_login(agent)
    client.get("/tickets/")
    with clock_at(T0 + timedelta(minutes=26)), compiled_models() as compiled:
        html = client.get("/tickets/").content.decode()
    row = html[html.index(f'<tr id="ticket-row-{ticket.pk}"') :]
    assert "overdue 11m" in row[: row.index("</tr>")]
    assert TicketSLA not in compiled  # the clocks' SQL was written at the first view
