"""The ticket page: timeline, inline changes, the conversation, attachments, watchers, presence."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from itsm.models import Team
from tickets import extensions
from tickets.actions import (
    do_add_comment,
    do_add_relation,
    do_assign_ticket,
    do_edit_comment,
    do_log_work,
    do_save_macro,
    do_transition_ticket,
)
from tickets.models import (
    Attachment,
    Category,
    Comment,
    SatisfactionSurvey,
    SensitiveAccess,
    Ticket,
    TicketAudit,
    TicketPresence,
    TicketRelation,
    TicketStatus,
    Watcher,
    WorkLog,
)

pytestmark = pytest.mark.django_db


def detail(ticket: Ticket) -> str:
    return reverse("tickets:ticket-detail", args=[ticket.pk])


def url(name: str, ticket: Ticket) -> str:
    return reverse(f"tickets:{name}", args=[ticket.pk])


@pytest.fixture
def ticket(make_ticket, team):
    return make_ticket("Mail is slow", description="Since this morning", team=team)


# --- reading ------------------------------------------------------------------------------------------------
def test_the_page_shows_content_timeline_and_actions(agent_client, ticket, agent, requester):
    do_add_comment(ticket, actor=requester, body="Still slow at noon")
    do_add_comment(ticket, actor=agent, body="Checking the relay", internal=True)
    do_assign_ticket(ticket, actor=agent, assignee=agent)
    response = agent_client.get(detail(ticket))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Mail is slow" in html and "Since this morning" in html
    assert 'class="public" id="comment-' in html and "Still slow at noon" in html
    assert 'class="internal" id="comment-' in html and "Checking the relay" in html
    assert "Internal note" in html
    # the audited change from the trail, with who made it
    assert 'data-testid="change"' in html
    assert "bob.agent@example.com" in html
    assert 'id="assign-form"' in html and 'id="status-form"' in html and 'id="priority-form"' in html
    assert f'name="version" value="{Ticket.objects.get(pk=ticket.pk).version}"' in html


def test_an_edited_comment_is_marked_edited_for_agents_and_the_requester(
    agent_client, client, ticket, agent, requester
):
    reply = do_add_comment(ticket, actor=agent, body="Restart Outlook")
    assert 'data-testid="edited"' not in agent_client.get(detail(ticket)).content.decode()
    do_edit_comment(reply, actor=agent, body="Restart Outlook in safe mode")
    html = agent_client.get(detail(ticket)).content.decode()
    assert "Restart Outlook in safe mode" in html and 'data-testid="edited"' in html
    client.force_login(requester)
    html = client.get(reverse("tickets:portal-ticket", args=[ticket.pk])).content.decode()
    assert "Restart Outlook in safe mode" in html and 'data-testid="edited"' in html


def edit_url(ticket: Ticket, comment: Comment) -> str:
    return reverse("tickets:comment-edit", args=[ticket.pk, comment.pk])


def test_an_author_edits_a_comment_in_place_over_htmx_and_without_javascript(
    agent_client, ticket, agent, requester
):
    mine = do_add_comment(ticket, actor=agent, body="Restart Outlook")
    theirs = do_add_comment(ticket, actor=requester, body="Still slow")
    html = agent_client.get(detail(ticket)).content.decode()
    assert html.count('class="comment-edit"') == 1 and edit_url(ticket, mine) in html  # only on one's own
    response = agent_client.post(
        edit_url(ticket, mine), {"body": "Restart Outlook in safe mode"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith(f'<li class="public" id="comment-{mine.pk}"')
    assert "Restart Outlook in safe mode" in fragment and 'data-testid="edited"' in fragment
    response = agent_client.post(edit_url(ticket, mine), {"body": "Restart Outlook, then Windows"})
    assert response.status_code == 302 and response["Location"].endswith(f"#comment-{mine.pk}")
    assert Comment.objects.get(pk=mine.pk).body == "Restart Outlook, then Windows"
    assert Comment.objects.get(pk=theirs.pk).body == "Still slow"


def test_a_comment_edit_is_refused_when_empty_or_not_ones_own(agent_client, ticket, agent, requester):
    mine = do_add_comment(ticket, actor=agent, body="Restart Outlook")
    theirs = do_add_comment(ticket, actor=requester, body="Still slow")
    response = agent_client.post(edit_url(ticket, mine), {"body": "  "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert (
        "This field is required." in response.content.decode()
        and '<details class="comment-edit" open>' in (response.content.decode())
    )
    assert agent_client.post(edit_url(ticket, theirs), {"body": "Rewritten"}).status_code == 403
    assert agent_client.get(edit_url(ticket, mine)).status_code == 405
    do_transition_ticket(ticket, "cancelled", actor=agent, reason="duplicate")
    assert 'class="comment-edit"' not in agent_client.get(detail(ticket)).content.decode()
    response = agent_client.post(edit_url(ticket, mine), {"body": "Rewritten"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "can no longer be edited" in response.content.decode()
    assert [c.body for c in Comment.objects.order_by("pk")] == ["Restart Outlook", "Still slow"]
    assert not Comment.objects.filter(updated_at__gt=F("created_at")).exists()


def test_the_requester_edits_a_reply_in_the_portal(client, ticket, agent, requester):
    mine = do_add_comment(ticket, actor=requester, body="Still slow at noon")
    theirs = do_add_comment(ticket, actor=agent, body="Checking the relay")
    client.force_login(requester)
    page = reverse("tickets:portal-ticket", args=[ticket.pk])
    html = client.get(page).content.decode()
    assert html.count('class="comment-edit"') == 1 and edit_url(ticket, mine) in html
    response = client.post(edit_url(ticket, mine), {"body": "Still slow at 2 pm"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert f'id="comment-{mine.pk}"' in fragment and "Still slow at 2 pm" in fragment and "You" in fragment
    assert "Public reply" not in fragment  # the portal's rendering, not the agents' (which has the pill)
    response = client.post(edit_url(ticket, mine), {"body": "Still slow at 3 pm"})
    assert response.status_code == 302 and response["Location"] == f"{page}#comment-{mine.pk}"
    assert client.post(edit_url(ticket, theirs), {"body": "Fixed"}).status_code == 403
    assert Comment.objects.get(pk=theirs.pk).body == "Checking the relay"


def test_the_page_keeps_a_fixed_number_of_queries(agent_client, ticket, agent, requester, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path

    def add(count: int) -> None:
        for index in range(count):
            do_add_comment(
                ticket,
                actor=agent if index % 2 else requester,
                body=f"message {index}",
                attachments=[SimpleUploadedFile(f"f{index}.txt", b"x", content_type="text/plain")],
            )
            do_assign_ticket(ticket, actor=agent, assignee=None if index % 2 else agent)

    def count() -> int:
        agent_client.get(detail(ticket))  # the choice lists in the list cache (tested on their own)
        with CaptureQueriesContext(connection) as queries:
            assert agent_client.get(detail(ticket)).status_code == 200
        return len(queries)

    add(2)
    with_two = count()
    add(10)
    assert count() == with_two


def test_other_teams_sensitive_tickets_are_a_404(client, other_agent, make_ticket, team):
    secret = make_ticket("HR case", sensitive=True, team=team)
    client.force_login(other_agent)
    assert client.get(detail(secret)).status_code == 404
    assert client.post(url("ticket-assign", secret), {"assignee": "", "version": 1}).status_code == 404


def test_viewing_a_sensitive_ticket_is_audited(client, agent, make_ticket, team):
    secret = make_ticket("HR case", sensitive=True, team=team)
    client.force_login(agent)
    assert client.get(detail(secret)).status_code == 200
    assert SensitiveAccess.objects.filter(ticket=secret, user=agent).count() == 1


def test_requesters_are_sent_to_the_portal_for_their_own_and_404_for_others(
    client, requester, other_requester, ticket
):
    client.force_login(requester)
    response = client.get(detail(ticket))
    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:portal-ticket", args=[ticket.pk])
    client.force_login(other_requester)
    assert client.get(detail(ticket)).status_code == 404


def test_viewers_read_but_cannot_change(client, viewer, ticket):
    client.force_login(viewer)
    html = client.get(detail(ticket)).content.decode()
    assert "Mail is slow" in html
    assert 'id="assign-form"' not in html and 'id="reply-form"' not in html
    for name, data in [
        ("ticket-assign", {"version": 1}),
        ("ticket-status", {"status": "open", "version": 1}),
        ("ticket-priority", {"priority": "low", "reason": "x", "version": 1}),
        ("ticket-comment", {"body": "hi"}),
        ("ticket-watch", {}),
        ("ticket-presence", {}),
    ]:
        assert client.post(url(name, ticket), data).status_code == 403, name
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW
    assert not Comment.objects.exists()


def test_change_urls_refuse_get(agent_client, ticket):
    for name in (
        "ticket-assign",
        "ticket-status",
        "ticket-priority",
        "ticket-comment",
        "ticket-watch",
        "ticket-presence",
    ):
        assert agent_client.get(url(name, ticket)).status_code == 405, name
    assert agent_client.post(detail(ticket)).status_code == 405


def test_the_timeline_partial_refreshes_over_htmx(agent_client, ticket, requester):
    do_add_comment(ticket, actor=requester, body="Any news?")
    response = agent_client.get(url("ticket-timeline", ticket), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<ol id="ticket-timeline"')
    assert 'hx-trigger="ticketUpdated from:body"' in html
    assert "Any news?" in html
    plain = agent_client.get(url("ticket-timeline", ticket))
    assert plain.status_code == 302 and plain["Location"].endswith("#timeline")


@pytest.mark.django_db(transaction=True)  # each save its own time (audit rows take the transaction's)
def test_a_long_timeline_shows_its_newest_entries_and_the_rest_on_demand(
    agent_client, ticket, agent, requester, monkeypatch
):
    monkeypatch.setattr("tickets.views.detail.TIMELINE_ENTRIES", 4)
    for index in range(3):
        do_add_comment(ticket, actor=requester, body=f"reply number {index}")
        do_assign_ticket(ticket, actor=agent, assignee=None if index % 2 else agent)
    html = agent_client.get(detail(ticket)).content.decode()
    shown = html[
        html.index('<ol id="ticket-timeline"') : html.index("</ol>", html.index('id="ticket-timeline"'))
    ]
    # newest four of seven entries (creation, three replies, three assignments), oldest first
    assert shown.count('data-testid="reply"') == 2 and shown.count('data-testid="change"') == 2
    assert "reply number 0" not in shown and 'data-testid="created"' not in shown
    assert shown.index("reply number 1") < shown.index("reply number 2")
    assert "Only the newest 4 entries are shown" in shown
    assert 'href="?timeline=all#timeline"' in shown
    # the earlier ones: the whole timeline, by link or over htmx, and its refresh keeps it whole
    whole = agent_client.get(detail(ticket) + "?timeline=all").content.decode()
    assert "reply number 0" in whole and 'data-testid="created"' in whole
    assert 'data-testid="timeline-earlier"' not in whole
    partial = agent_client.get(url("ticket-timeline", ticket) + "?timeline=all", HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "reply number 0" in html and f'hx-get="{url("ticket-timeline", ticket)}?timeline=all"' in html
    plain = agent_client.get(url("ticket-timeline", ticket) + "?timeline=all")
    assert plain["Location"].endswith(f"{detail(ticket)}?timeline=all#timeline")


def test_a_short_timeline_has_no_link_to_earlier_entries(agent_client, ticket, requester, monkeypatch):
    monkeypatch.setattr("tickets.views.detail.TIMELINE_ENTRIES", 2)
    do_add_comment(ticket, actor=requester, body="Any news?")  # creation + one reply: two entries
    html = agent_client.get(detail(ticket)).content.decode()
    assert 'data-testid="created"' in html and "Any news?" in html
    assert 'data-testid="timeline-earlier"' not in html


@pytest.mark.django_db(transaction=True)  # each save its own time (audit rows take the transaction's)
def test_only_earlier_changes_left_out_still_offer_them(agent_client, ticket, agent, monkeypatch):
    monkeypatch.setattr("tickets.views.detail.TIMELINE_ENTRIES", 2)
    do_assign_ticket(ticket, actor=agent, assignee=agent)
    do_assign_ticket(ticket, actor=agent, assignee=None)  # three saves, no comment
    html = agent_client.get(detail(ticket)).content.decode()
    assert 'data-testid="created"' not in html and html.count('data-testid="change"') == 2
    assert 'data-testid="timeline-earlier"' in html


def test_it_renders_the_ticket_page_in_french(agent_client, ticket):
    agent_client.post(reverse("set_language"), {"language": "fr", "next": detail(ticket)})
    html = agent_client.get(detail(ticket)).content.decode()
    assert 'lang="fr"' in html
    assert "Déconnexion" in html


# --- inline changes ----------------------------------------------------------------------------------------
def test_assigning_over_htmx_swaps_the_sidebar_and_announces_the_change(agent_client, ticket, agent):
    response = agent_client.post(
        url("ticket-assign", ticket),
        {"assignee": agent.pk, "version": ticket.version},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "ticketUpdated" in response["HX-Trigger"]
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="ticket-sidebar"')
    assert 'data-testid="side-assignee">Bob Agent<' in html
    ticket.refresh_from_db()
    assert ticket.assignee == agent
    assert f'name="version" value="{ticket.version}"' in html


def test_assigning_without_javascript_redirects_back(agent_client, ticket, agent):
    response = agent_client.post(
        url("ticket-assign", ticket), {"assignee": agent.pk, "version": ticket.version}
    )
    assert response.status_code == 302
    assert response["Location"] == detail(ticket)
    ticket.refresh_from_db()
    assert ticket.assignee == agent


def test_a_stale_save_is_refused_instead_of_overwriting(agent_client, ticket, agent, other_agent, admin_user):
    seen_version = ticket.version
    do_assign_ticket(ticket, actor=admin_user, assignee=other_agent)  # someone else saves first
    response = agent_client.post(
        url("ticket-assign", ticket), {"assignee": agent.pk, "version": seen_version}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "was changed by someone else" in html
    ticket.refresh_from_db()
    assert ticket.assignee == other_agent
    # the sidebar now carries the latest version, so a deliberate retry can go through
    assert f'name="version" value="{ticket.version}"' in html
    plain = agent_client.post(url("ticket-status", ticket), {"status": "open", "version": seen_version})
    assert plain.status_code == 409
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW


def test_resolving_needs_a_resolution_and_says_so(agent_client, ticket):
    response = agent_client.post(
        url("ticket-status", ticket),
        {"status": "resolved", "version": ticket.version},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    assert "Resolving a ticket needs a resolution summary." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW
    ok = agent_client.post(
        url("ticket-status", ticket),
        {"status": "resolved", "resolution": "Relay restarted", "version": ticket.version},
        HTTP_HX_REQUEST="true",
    )
    assert ok.status_code == 200
    ticket.refresh_from_db()
    assert (ticket.status, ticket.resolution) == (TicketStatus.RESOLVED, "Relay restarted")


def test_an_illegal_move_names_the_allowed_ones(agent_client, ticket):
    do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=None, resolution="done")
    ticket.refresh_from_db()
    response = agent_client.post(
        url("ticket-status", ticket), {"status": "in_progress", "version": ticket.version}
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Allowed moves: Open, Closed." in html
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED


def test_a_priority_override_needs_a_reason(agent_client, ticket):
    response = agent_client.post(
        url("ticket-priority", ticket),
        {"priority": "critical", "version": ticket.version},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert "Overriding the priority needs a reason." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.priority == "medium"
    agent_client.post(
        url("ticket-priority", ticket), {"priority": "critical", "reason": "CEO", "version": ticket.version}
    )
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.priority_reason) == ("critical", "CEO")


def test_bad_change_input_is_a_400_and_changes_nothing(agent_client, ticket):
    assert (
        agent_client.post(url("ticket-status", ticket), {"status": "bogus", "version": 1}).status_code == 400
    )
    assert (
        agent_client.post(url("ticket-assign", ticket), {"assignee": 999999, "version": 1}).status_code == 400
    )
    assert (
        agent_client.post(url("ticket-priority", ticket), {"priority": "low", "reason": "x"}).status_code
        == 400
    )
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee, ticket.priority, ticket.version) == ("new", None, "medium", 1)


# --- conversation and attachments --------------------------------------------------------------------------
def test_an_agent_replies_with_an_attachment(agent_client, ticket, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("log.txt", b"relay timeout", content_type="text/plain")
    response = agent_client.post(
        url("ticket-comment", ticket), {"body": "Please see the log", "attachments": upload}
    )
    assert response.status_code == 302
    comment = Comment.objects.get()
    assert (comment.body, comment.internal) == ("Please see the log", False)
    assert comment.attachments.get().filename == "log.txt"
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None


def test_an_internal_note_over_htmx_returns_a_fresh_form_and_refreshes_the_timeline(agent_client, ticket):
    response = agent_client.post(
        url("ticket-comment", ticket), {"body": "Looks like DNS", "internal": "on"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "ticketUpdated" in response["HX-Trigger"]
    assert response.content.decode().lstrip().startswith('<form id="reply-form"')
    assert Comment.objects.get().internal is True


def test_an_empty_reply_or_a_forbidden_file_is_refused(agent_client, ticket, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    assert agent_client.post(url("ticket-comment", ticket), {"body": "  "}).status_code == 400
    bad = SimpleUploadedFile("run.exe", b"MZ", content_type="application/x-msdownload")
    response = agent_client.post(
        url("ticket-comment", ticket), {"body": "see file", "attachments": bad}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "are not accepted" in response.content.decode()
    settings.ATTACHMENT_MAX_BYTES = 3
    big = SimpleUploadedFile("big.txt", b"12345", content_type="text/plain")
    assert (
        agent_client.post(url("ticket-comment", ticket), {"body": "x", "attachments": big}).status_code == 400
    )
    assert not Comment.objects.exists() and not Attachment.objects.exists()


def test_attachments_are_served_only_through_the_permission_check(
    client, agent, requester, other_requester, ticket, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    public = do_add_comment(
        ticket,
        actor=agent,
        body="log",
        attachments=[SimpleUploadedFile("public.txt", b"public bytes", content_type="text/plain")],
    )
    note = do_add_comment(
        ticket,
        actor=agent,
        body="secret",
        internal=True,
        attachments=[SimpleUploadedFile("note.txt", b"note bytes", content_type="text/plain")],
    )
    public_file, note_file = public.attachments.get(), note.attachments.get()

    def download(user, attachment):
        client.force_login(user)
        return client.get(reverse("tickets:attachment-download", args=[attachment.pk]))

    response = download(requester, public_file)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"public bytes"
    assert "attachment;" in response["Content-Disposition"]
    assert download(requester, note_file).status_code == 404
    assert download(other_requester, public_file).status_code == 404
    assert download(agent, note_file).status_code == 200
    # never a public media URL on the page
    client.force_login(agent)
    assert "/media/" not in client.get(detail(ticket)).content.decode()


# --- watchers, relations, panels ----------------------------------------------------------------------------
def test_an_agent_watches_and_unwatches(agent_client, ticket, agent):
    response = agent_client.post(url("ticket-watch", ticket), {"watch": "1"}, HTTP_HX_REQUEST="true")
    assert response.content.decode().lstrip().startswith('<section id="ticket-watchers"')
    assert Watcher.objects.filter(ticket=ticket, user=agent).exists()
    assert "Stop watching" in response.content.decode()
    agent_client.post(url("ticket-watch", ticket), {"watch": "0"})
    assert not Watcher.objects.filter(ticket=ticket, user=agent).exists()


def test_relations_show_only_tickets_the_user_may_see(
    agent_client, ticket, make_ticket, other_team, admin_user
):
    related = make_ticket("Mail relay down")
    secret = make_ticket("Secret incident", sensitive=True, team=other_team)
    do_add_relation(ticket, target=related, kind="related", actor=None)
    do_add_relation(secret, target=ticket, kind="caused_by", actor=None)
    html = agent_client.get(detail(ticket)).content.decode()
    assert related.number in html
    assert secret.number not in html and "Secret incident" not in html


def test_registered_panels_load_lazily_with_a_plain_link(agent_client, ticket, monkeypatch):
    monkeypatch.setitem(
        extensions.detail_panels,
        "history",
        extensions.DetailPanel(name="history", label="History", url_name="tickets:ticket-timeline"),
    )
    monkeypatch.setitem(
        extensions.detail_panels,
        "broken",
        extensions.DetailPanel(name="broken", label="Broken", url_name="nowhere:missing"),
    )
    html = agent_client.get(detail(ticket)).content.decode()
    timeline_url = url("ticket-timeline", ticket)
    assert f'hx-get="{timeline_url}" hx-trigger="load, ticketUpdated from:body"' in html
    assert f'<a href="{timeline_url}">Open History</a>' in html
    assert "Broken" not in html


# --- collision detection -------------------------------------------------------------------------------------
def test_presence_shows_who_else_is_here_and_expires(client, agent, admin_user, ticket):
    with time_machine.travel(datetime.datetime(2025, 3, 3, 9, 0, tzinfo=datetime.UTC), tick=False):
        client.force_login(admin_user)
        client.post(url("ticket-presence", ticket), {"editing": "1"}, HTTP_HX_REQUEST="true")
        client.force_login(agent)
        html = client.get(detail(ticket)).content.decode()
        assert "Also here:" in html and "Alice Admin (editing)" in html
        assert 'hx-trigger="every 20s"' in html
    with time_machine.travel(datetime.datetime(2025, 3, 3, 9, 0, 50, tzinfo=datetime.UTC), tick=False):
        ping = client.post(
            url("ticket-presence", ticket),
            {"editing": "0", "version": ticket.version},
            HTTP_HX_REQUEST="true",
        )
        assert "Alice Admin (editing)" in ping.content.decode()
    with time_machine.travel(datetime.datetime(2025, 3, 3, 9, 1, 5, tzinfo=datetime.UTC), tick=False):
        ping = client.post(
            url("ticket-presence", ticket), {"version": ticket.version}, HTTP_HX_REQUEST="true"
        )
        assert "Alice Admin" not in ping.content.decode()
    assert TicketPresence.objects.get(ticket=ticket, user=agent).editing is False


def test_the_ping_says_when_someone_else_changed_the_ticket(agent_client, ticket, admin_user, agent):
    seen = ticket.version
    do_assign_ticket(ticket, actor=admin_user, assignee=agent)
    ping = agent_client.post(url("ticket-presence", ticket), {"version": seen}, HTTP_HX_REQUEST="true")
    assert 'data-testid="changed-elsewhere"' in ping.content.decode()
    ticket.refresh_from_db()
    ping = agent_client.post(
        url("ticket-presence", ticket), {"version": ticket.version}, HTTP_HX_REQUEST="true"
    )
    assert 'data-testid="changed-elsewhere"' not in ping.content.decode()


def test_the_ticket_page_query_count_is_pinned(
    agent_client, ticket, agent, make_ticket, team, django_assert_num_queries
):
    """With every panel of issue 18 filled: macros, work log, survey, links, merged comments."""
    for index in range(3):
        do_save_macro(None, {"name": f"Macro {index}", "body": "Hi"}, actor=agent)
        do_log_work(ticket, actor=agent, minutes=10 + index)
        do_add_relation(
            ticket, target=make_ticket(f"Child {index}", team=team), kind="parent_of", actor=agent
        )
        do_add_comment(ticket, actor=agent, body=f"Reply {index}", time_spent=5)
    agent_client.get(detail(ticket))  # warm the session and the list cache
    # session, user, teams + the ticket (visibility), presence upsert; the context: watchers,
    # presence, the assign form's agents and teams and the macros (one read of the list cache),
    # teams + links (visibility), work log, survey, comments (+ their attachments), audit trail
    # (+ the teams it names), unattached files; the template: unread notifications.
    with CaptureQueriesContext(connection) as queries:
        agent_client.get(detail(ticket))
    pinned = len(queries)
    for index in range(3):
        do_log_work(ticket, actor=agent, minutes=5)
        do_add_relation(ticket, target=make_ticket(f"More {index}", team=team), kind="related", actor=agent)
        do_save_macro(None, {"name": f"More {index}", "body": "Hi"}, actor=agent)
    agent_client.get(detail(ticket))  # a saved macro renews the list cache
    with django_assert_num_queries(pinned):
        agent_client.get(detail(ticket))
    assert pinned == 18, "\n".join(query["sql"][:120] for query in queries.captured_queries)


def test_the_ticket_page_compiles_its_reads_once_per_process(
    agent_client, ticket, agent, make_ticket, team, compiled_models
):
    """The ticket, its links, presence, watchers, work log, survey, comments, trail and files
    are read by queries written once (``itsm/lib/prepared.py``): a second view, of another
    ticket, compiles none of them."""
    other = make_ticket("Another", team=team)
    do_add_comment(other, actor=agent, body="Looking", time_spent=5)
    do_add_relation(other, target=ticket, kind="related", actor=agent)
    agent_client.get(detail(ticket))
    with compiled_models() as compiled:
        html = agent_client.get(detail(other)).content.decode()
    assert "Looking" in html and ticket.number in html and "5 min" in html
    prepared = {
        Ticket,
        TicketRelation,
        TicketPresence,
        Watcher,
        WorkLog,
        SatisfactionSurvey,
        Comment,
        TicketAudit,
        Team,
        Category,
    }
    assert not prepared & set(compiled), compiled


@pytest.mark.parametrize("pk", [2**63 - 1, 2**63, 10**30])
def test_a_ticket_number_beyond_any_id_is_a_404(agent_client, pk):
    assert agent_client.get(f"/tickets/{pk}/").status_code == 404


def test_the_timeline_names_authors_and_the_ticket_a_reply_was_merged_from(
    agent_client, agent, other_agent, requester, make_ticket, team
):
    from tickets.actions import do_merge_tickets

    target = make_ticket("Mail outage", team=team)
    source = make_ticket("No mail since 9:00", team=team)
    do_add_comment(source, actor=requester, body="Still nothing here.")
    do_add_comment(target, actor=other_agent, body="Looking into the relay.")
    do_merge_tickets(target, [source], actor=agent)
    html = agent_client.get(detail(target)).content.decode()
    assert "<strong>Dave Requester</strong>" in html and "<strong>Carol Network</strong>" in html
    assert f'<span data-testid="merged-from">from {source.number}</span>' in html
    assert html.count('data-testid="merged-from"') == 1  # the target's own reply came from nowhere
