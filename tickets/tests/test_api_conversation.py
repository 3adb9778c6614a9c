"""Comments, audit trail and relations through the API."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tickets.actions import do_add_comment, do_add_relation, do_assign_ticket, do_transition_ticket
from tickets.models import Attachment, Comment, RelationKind, Ticket, TicketRelation

pytestmark = pytest.mark.django_db


def url(ticket, action):
    return f"/api/tickets/{ticket.pk}/{action}/"


# --- comments ------------------------------------------------------------------------------------
def test_it_adds_a_reply_and_sets_the_first_response(api_for, make_ticket, agent):
    ticket = make_ticket()
    response = api_for(agent).post(url(ticket, "comments"), {"body": "On my way."}, format="json")
    assert response.status_code == 201
    assert {"author": agent.email, "body": "On my way.", "internal": False, "source": "api"}.items() <= (
        response.json().items()
    )
    assert Ticket.objects.get(pk=ticket.pk).first_response_at is not None


@pytest.mark.parametrize("final", ["closed", "cancelled"])
def test_a_final_ticket_takes_no_reply_from_its_requester(api_for, make_ticket, agent, requester, final):
    ticket = make_ticket()
    if final == "closed":
        do_transition_ticket(ticket, "resolved", actor=agent, resolution="Replaced the fuser")
    do_transition_ticket(ticket, final, actor=agent)
    response = api_for(requester).post(
        url(ticket, "comments"), {"body": "It jams again", "attachments": []}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": ["This ticket is closed; please open a new one."]}
    assert not Comment.objects.exists()
    assert Ticket.objects.get(pk=ticket.pk).status == final
    # The desk may still add to the record of a final ticket.
    assert api_for(agent).post(url(ticket, "comments"), {"body": "Noted"}, format="json").status_code == 201


def test_it_keeps_internal_notes_from_the_requester(api_for, make_ticket, agent, requester):
    ticket = make_ticket()
    agent_client = api_for(agent)
    agent_client.post(url(ticket, "comments"), {"body": "Check the fuser", "internal": True}, format="json")
    agent_client.post(url(ticket, "comments"), {"body": "We are on it"}, format="json")
    assert Ticket.objects.get(pk=ticket.pk).first_response_at is not None
    assert [c["body"] for c in agent_client.get(url(ticket, "comments")).json()["results"]] == [
        "Check the fuser",
        "We are on it",
    ]
    assert [c["body"] for c in api_for(requester).get(url(ticket, "comments")).json()["results"]] == [
        "We are on it"
    ]


def test_it_refuses_an_internal_note_from_a_requester(api_for, make_ticket, requester):
    ticket = make_ticket()
    response = api_for(requester).post(
        url(ticket, "comments"), {"body": "psst", "internal": True}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "Only agents write internal notes."
    assert not Comment.objects.exists()


def test_it_lets_the_requester_reply(api_for, make_ticket, requester):
    ticket = make_ticket()
    response = api_for(requester).post(url(ticket, "comments"), {"body": "It is still jammed"}, format="json")
    assert response.status_code == 201
    assert Ticket.objects.get(pk=ticket.pk).first_response_at is None


def test_the_author_edits_a_comment_and_it_shows_as_edited(api_for, make_ticket, agent, requester):
    ticket = make_ticket()
    comment = do_add_comment(ticket, actor=agent, body="Restart the printer")
    listed = api_for(requester).get(url(ticket, "comments")).json()["results"]
    assert listed[0]["edited"] is False
    response = api_for(agent).patch(
        url(ticket, f"comments/{comment.pk}"),
        {"body": "Restart the printer, then the spooler"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (
        response.json()["body"] == "Restart the printer, then the spooler"
        and response.json()["edited"] is True
    )
    listed = api_for(requester).get(url(ticket, "comments")).json()["results"]
    assert [(c["body"], c["edited"]) for c in listed] == [("Restart the printer, then the spooler", True)]


@pytest.mark.parametrize(
    ("who", "payload", "status"),
    [
        ("other_agent", {"body": "Rewritten"}, 403),
        ("requester", {"body": "Rewritten"}, 403),
        ("agent", {"body": "  "}, 400),
        ("agent", {"body": "x", "internal": True}, 400),  # the text only: unknown fields are refused
        ("agent", {}, 400),
    ],
)
def test_it_refuses_bad_comment_edits_and_changes_nothing(
    api_for, make_ticket, agent, other_agent, requester, team, who, payload, status
):
    ticket = make_ticket(team=team)
    comment = do_add_comment(ticket, actor=agent, body="Checking the relay")
    actor = {"agent": agent, "other_agent": other_agent, "requester": requester}[who]
    response = api_for(actor).patch(url(ticket, f"comments/{comment.pk}"), payload, format="json")
    assert response.status_code == status, response.content
    comment.refresh_from_db()
    assert comment.body == "Checking the relay" and comment.updated_at == comment.created_at


def test_an_internal_note_is_not_found_for_the_requester_nor_a_comment_of_another_ticket(
    api_for, make_ticket, agent, requester
):
    ticket, other = make_ticket(), make_ticket()
    note = do_add_comment(ticket, actor=agent, body="Check the fuser", internal=True)
    assert (
        api_for(requester).patch(url(ticket, f"comments/{note.pk}"), {"body": "x"}, format="json").status_code
        == 404
    )
    assert (
        api_for(agent).patch(url(other, f"comments/{note.pk}"), {"body": "x"}, format="json").status_code
        == 404
    )
    assert Comment.objects.get(pk=note.pk).body == "Check the fuser"


@pytest.mark.parametrize("payload", [{}, {"body": "   "}, {"body": "x", "internal": "maybe"}, {"text": "hi"}])
def test_it_refuses_bad_comments(api_for, make_ticket, agent, payload):
    ticket = make_ticket()
    assert api_for(agent).post(url(ticket, "comments"), payload, format="json").status_code == 400
    assert not Comment.objects.exists()


def test_it_refuses_comments_from_viewers_and_strangers(api_for, make_ticket, viewer, other_requester):
    ticket = make_ticket()
    assert api_for(viewer).post(url(ticket, "comments"), {"body": "hi"}, format="json").status_code == 403
    assert (
        api_for(other_requester).post(url(ticket, "comments"), {"body": "hi"}, format="json").status_code
        == 404
    )
    assert not Comment.objects.exists()


def test_it_accepts_attachments_within_the_limits(api_for, make_ticket, agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    ticket = make_ticket()
    upload = SimpleUploadedFile("trace.txt", b"stack trace", content_type="text/plain")
    response = api_for(agent).post(
        url(ticket, "comments"), {"body": "Trace", "attachments": [upload]}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["attachments"][0]["filename"] == "trace.txt"
    assert Attachment.objects.get().size == 11


def test_it_refuses_attachments_over_the_limits(api_for, make_ticket, agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_MAX_BYTES = 5
    ticket = make_ticket()
    upload = SimpleUploadedFile("trace.txt", b"stack trace", content_type="text/plain")
    response = api_for(agent).post(
        url(ticket, "comments"), {"body": "Trace", "attachments": [upload]}, format="multipart"
    )
    assert response.status_code == 400
    assert "the limit is 5 bytes" in str(response.json()["attachments"])
    assert not Comment.objects.exists() and not Attachment.objects.exists()
    assert not list(tmp_path.rglob("*.txt"))


def test_it_lists_comments_in_a_fixed_number_of_queries(
    api_for, make_ticket, agent, settings, tmp_path, django_assert_num_queries
):
    settings.MEDIA_ROOT = tmp_path
    ticket = make_ticket()
    for index in range(5):
        upload = SimpleUploadedFile(f"{index}.txt", b"x", content_type="text/plain")
        do_add_comment(ticket, actor=agent, body=f"reply {index}", attachments=[upload])
    client = api_for(agent)
    client.get(url(ticket, "comments"))
    # token, teams, ticket, count, page, attachments
    with django_assert_num_queries(7):  # + the API throttle's counter
        assert len(client.get(url(ticket, "comments")).json()["results"]) == 5


# --- audit ----------------------------------------------------------------------------------------------
def test_it_shows_the_audit_trail(api_for, make_ticket, agent, team):
    ticket = make_ticket()
    client = api_for(agent)
    client.post(url(ticket, "transition"), {"to": "open", "reason": "triaged"}, format="json")
    do_assign_ticket(ticket, actor=agent, assignee=agent, team=team)
    entries = client.get(url(ticket, "audit")).json()["results"]
    assert [(e["field"], e["old"], e["new"]) for e in entries] == [
        ("status", None, "new"),
        ("priority", None, "medium"),
        ("status", "new", "open"),
        ("assignee", None, agent.email),
        ("team", None, "Service Desk"),
    ]
    assert entries[2]["actor"] == agent.email and entries[2]["reason"] == "triaged"
    assert all(entry["at"] for entry in entries)


def test_the_audit_trail_is_paged_by_saves(api_for, make_ticket, agent, other_agent, team):
    ticket = make_ticket()  # one save: status and priority set
    for index in range(12):  # twelve saves, each changing the assignee
        do_assign_ticket(ticket, actor=agent, assignee=agent if index % 2 == 0 else other_agent)
    client = api_for(agent)
    pages, address = [], url(ticket, "audit") + "?page_size=5"
    while address:
        body = client.get(address).json()
        pages.append(body)
        address = body["next"]
    assert [body["count"] for body in pages] == [13, 13, 13]
    # Five saves a page: page 1 holds the creation (status, priority) and the first assignment
    # (assignee, team: the agent's), two changes each; then one change a save.
    assert [len(body["results"]) for body in pages] == [7, 5, 3]
    # The pages make up the whole trail, and a page's first change says what it changed from
    # (read from the save before the page).
    whole = [entry for body in pages for entry in body["results"]]
    expected = ticket.audit_trail()
    assert [(e["field"], e["old"], e["new"]) for e in whole] == [(c.field, c.old, c.new) for c in expected]
    assert (pages[1]["results"][0]["old"], pages[1]["results"][0]["new"]) == (other_agent.email, agent.email)
    assert client.get(url(ticket, "audit") + "?page=9").status_code == 404


def test_a_page_of_the_audit_trail_reads_a_fixed_number_of_rows(
    api_for, make_ticket, agent, other_agent, django_assert_max_num_queries
):
    ticket = make_ticket()
    client = api_for(agent)
    client.get(url(ticket, "audit"))  # warm the token's user

    def add(saves: int) -> None:
        for index in range(saves):
            do_assign_ticket(ticket, actor=agent, assignee=agent if index % 2 == 0 else other_agent)

    add(4)
    with CaptureQueriesContext(connection) as few:
        client.get(url(ticket, "audit") + "?page=2&page_size=2")
    add(40)
    with django_assert_max_num_queries(len(few)):
        body = client.get(url(ticket, "audit") + "?page=2&page_size=2").json()
    assert body["count"] == 45 and len(body["results"]) == 2


def test_it_keeps_the_audit_trail_from_requesters(api_for, make_ticket, requester, viewer):
    ticket = make_ticket()
    assert api_for(requester).get(url(ticket, "audit")).status_code == 403
    assert api_for(viewer).get(url(ticket, "audit")).status_code == 200


# --- relations ------------------------------------------------------------------------------------------
def test_it_links_tickets_by_number(api_for, make_ticket, agent):
    first, second = make_ticket("one"), make_ticket("two")
    client = api_for(agent)
    response = client.post(
        url(second, "relations"), {"target": first.number, "kind": "related"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["ticket"]["number"] == first.number
    listed = client.get(url(first, "relations")).json()
    assert [(r["kind"], r["direction"], r["ticket"]["number"]) for r in listed] == [
        ("related", "incoming", second.number)
    ]


def test_it_closes_a_duplicate_through_the_api(api_for, make_ticket, agent):
    original, duplicate = make_ticket("one"), make_ticket("two")
    response = api_for(agent).post(
        url(duplicate, "relations"),
        {"target": str(original.pk), "kind": "duplicate_of", "close_duplicate": True},
        format="json",
    )
    assert response.status_code == 201
    duplicate.refresh_from_db()
    assert duplicate.status == "closed" and original.number in duplicate.resolution


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"target": "INC-999999", "kind": "related"},
        {"target": "self", "kind": "x"},
        {"target": "SELF", "kind": "related"},
    ],
)
def test_it_refuses_bad_links(api_for, make_ticket, agent, payload):
    ticket = make_ticket()
    if payload.get("target") == "SELF":
        payload = {**payload, "target": ticket.number}
    response = api_for(agent).post(url(ticket, "relations"), payload, format="json")
    assert response.status_code == 400
    assert not TicketRelation.objects.exists()


def test_it_refuses_a_duplicate_link(api_for, make_ticket, agent):
    first, second = make_ticket("one"), make_ticket("two")
    do_add_relation(second, target=first, kind=RelationKind.CAUSED_BY, actor=agent)
    response = api_for(agent).post(
        url(second, "relations"), {"target": first.number, "kind": "caused_by"}, format="json"
    )
    assert response.status_code == 400
    assert "already" in response.json()["target"][0]
    assert TicketRelation.objects.count() == 1


def test_it_hides_links_to_tickets_the_caller_cannot_see(
    api_for, make_ticket, agent, requester, other_requester
):
    mine, theirs = make_ticket("mine"), make_ticket("theirs", requester=other_requester)
    do_add_relation(mine, target=theirs, kind=RelationKind.RELATED, actor=agent)
    assert api_for(requester).get(url(mine, "relations")).json() == []
    assert len(api_for(agent).get(url(mine, "relations")).json()) == 1
    assert (
        api_for(requester)
        .post(url(mine, "relations"), {"target": mine.number, "kind": "related"}, format="json")
        .status_code
        == 403
    )
