"""Merging tickets: what moves, how the sources end, the SLA clocks, refusals that change nothing."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from itsm.models import Notification
from sla.defaults import ensure_defaults
from sla.models import ClockState, SLAEvent, TicketSLA
from tickets import signals
from tickets.actions import (
    check_merge,
    do_add_comment,
    do_add_relation,
    do_merge_tickets,
    do_transition_ticket,
    do_watch_ticket,
    merge_plan,
)
from tickets.models import Attachment, Comment, Ticket, TicketRelation, TicketStatus, Watcher

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def policies(db):
    ensure_defaults()


@pytest.fixture
def target(make_ticket, team):
    return make_ticket("Outlook cannot connect", description="Since 9:00", team=team)


@pytest.fixture
def source(make_ticket, team, other_requester, agent):
    ticket = make_ticket(
        "Mail down for me too", description="Same here on floor 2", team=team, requester=other_requester
    )
    do_add_comment(
        ticket,
        actor=other_requester,
        body="Still down",
        attachments=[SimpleUploadedFile("shot.png", b"png", "image/png")],
    )
    do_add_comment(ticket, actor=agent, body="Checking the relay", internal=True)
    return ticket


def snapshot() -> list:
    return [
        list(Ticket.objects.order_by("pk").values_list("pk", "status", "version", "metadata")),
        list(Comment.objects.order_by("pk").values_list("pk", "ticket", "merged_from")),
        list(Attachment.objects.order_by("pk").values_list("pk", "ticket")),
        list(Watcher.objects.order_by("pk").values_list("ticket", "user")),
        list(TicketRelation.objects.order_by("pk").values_list("source", "target", "kind")),
        list(TicketSLA.objects.order_by("pk").values_list("pk", "state", "stopped_at")),
    ]


def test_it_moves_the_conversation_and_closes_the_source_with_a_link(target, source, agent, other_requester):
    moved = list(source.comments.order_by("pk").values_list("pk", "author", "created_at"))
    do_merge_tickets(target, [source], actor=agent)
    source.refresh_from_db()
    # the conversation moved, authors and times kept, marked with where it came from
    assert (
        list(
            target.comments.filter(merged_from=source)
            .order_by("pk")
            .values_list("pk", "author", "created_at")
        )
        == moved
    )
    assert Attachment.objects.get().ticket_id == target.pk
    # one internal note on the target says what arrived (with the source's description)
    note = target.comments.filter(merged_from=None).get()
    assert note.internal and source.number in note.body and "Same here on floor 2" in note.body
    # the source: resolved with a link, then closed; its requester follows the target
    assert source.status == TicketStatus.CLOSED and source.metadata["merged_into"] == target.number
    assert target.number in source.resolution
    assert TicketRelation.objects.filter(source=source, target=target, kind="duplicate_of").exists()
    assert Watcher.objects.filter(ticket=target, user=other_requester).exists()
    # the requester of the source is told by the usual notification (the resolution)
    assert Notification.objects.filter(
        recipient=other_requester, verb="status_changed", subject_id=source.pk
    ).exists()


def test_the_sources_sla_clocks_stop_as_cancelled_not_breached(target, source, agent):
    assert TicketSLA.objects.filter(ticket=source).count() == 2
    # long after the due times: closing would have recorded a breach
    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=20)):
        do_merge_tickets(target, [source], actor=agent)
    clocks = TicketSLA.objects.filter(ticket=source)
    assert {clock.state for clock in clocks} == {ClockState.CANCELLED}
    assert all(clock.breached_at is None and clock.stopped_at is not None for clock in clocks)
    assert not SLAEvent.objects.filter(ticket=source, kind="breach").exists()
    # the target's clocks carry on
    assert {clock.state for clock in TicketSLA.objects.filter(ticket=target)} != {ClockState.CANCELLED}


def test_relations_and_watchers_move_without_duplicates(make_ticket, target, source, agent, team, viewer):
    other = make_ticket("Related outage", team=team)
    do_add_relation(source, target=other, kind="related", actor=agent)
    do_add_relation(other, target=source, kind="caused_by", actor=agent)
    do_add_relation(source, target=target, kind="related", actor=agent)  # would become a self-link
    do_watch_ticket(source, user=agent)
    do_watch_ticket(target, user=agent)
    do_merge_tickets(target, [source], actor=agent)
    links = set(TicketRelation.objects.values_list("source", "target", "kind"))
    assert links == {
        (target.pk, other.pk, "related"),
        (other.pk, target.pk, "caused_by"),
        (source.pk, target.pk, "duplicate_of"),
    }
    assert Watcher.objects.filter(ticket=target, user=agent).count() == 1


def test_several_sources_at_once(make_ticket, target, team, agent):
    sources = [make_ticket(f"Mail {index}", team=team) for index in range(3)]
    do_transition_ticket(sources[2], TicketStatus.RESOLVED, actor=agent, resolution="Fixed")
    do_merge_tickets(target, sources, actor=agent)
    assert set(Ticket.objects.filter(pk__in=[s.pk for s in sources]).values_list("status", flat=True)) == {
        "closed"
    }


@pytest.mark.parametrize("case", ["self", "closed_target", "closed_source", "none", "jira_both", "jira_two"])
def test_refusals_change_nothing(make_ticket, target, source, agent, team, case):
    sources = [source]
    if case == "self":
        sources = [target]
    elif case == "closed_target":
        do_transition_ticket(target, TicketStatus.CANCELLED, actor=agent)
    elif case == "closed_source":
        do_transition_ticket(source, TicketStatus.CANCELLED, actor=agent)
    elif case == "none":
        sources = []
    elif case == "jira_both":
        Ticket.objects.filter(pk=target.pk).update(external_key="ITSM-1")
        Ticket.objects.filter(pk=source.pk).update(external_key="ITSM-2")
    elif case == "jira_two":
        other = make_ticket("Other", team=team, external_key="ITSM-3")
        Ticket.objects.filter(pk=source.pk).update(external_key="ITSM-2")
        sources = [source, other]
    target.refresh_from_db()
    sources = [Ticket.objects.get(pk=ticket.pk) for ticket in sources]
    before = snapshot()
    with pytest.raises(ValidationError) as refused:
        do_merge_tickets(target, sources, actor=agent)
    if case.startswith("jira"):
        assert "Jira" in str(refused.value)
    assert snapshot() == before


def test_a_jira_linked_source_merges_into_a_target_without_a_link(target, source, agent):
    Ticket.objects.filter(pk=source.pk).update(external_key="ITSM-2")
    source.refresh_from_db()
    do_merge_tickets(target, [source], actor=agent)
    assert Ticket.objects.get(pk=source.pk).status == TicketStatus.CLOSED


def test_only_agents_who_may_change_both_merge(
    client, make_ticket, target, team, other_agent, requester, viewer
):
    secret = make_ticket("HR case", sensitive=True, team=team)
    before = snapshot()
    with pytest.raises(PermissionDenied):
        do_merge_tickets(target, [secret], actor=other_agent)
    for person in (requester, viewer):
        with pytest.raises(PermissionDenied):
            do_merge_tickets(target, [secret], actor=person)
    assert snapshot() == before


# --- API ----------------------------------------------------------------------------------------------
def merge_url(ticket: Ticket) -> str:
    return f"/api/tickets/{ticket.pk}/merge/"


def test_api_previews_then_merges(api_for, agent, target, source):
    client = api_for(agent)
    before = snapshot()
    preview = client.post(merge_url(target), {"sources": [source.number], "preview": True}, format="json")
    assert preview.status_code == 200, preview.json()
    assert preview.json()["sources"] == [
        {
            "source": source.number,
            "title": source.title,
            "replies": 1,
            "notes": 1,
            "attachments": 1,
            "watchers": 1,
            "relations": 0,
        }
    ]
    assert snapshot() == before
    response = client.post(merge_url(target), {"sources": [str(source.pk)]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["preview"] is False and response.json()["target"]["number"] == target.number
    # a retried request changes nothing twice: the source is closed now
    before = snapshot()
    assert client.post(merge_url(target), {"sources": [source.number]}, format="json").status_code == 400
    assert snapshot() == before


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"sources": []},
        {"sources": "INC-1"},
        {"sources": ["INC-999999"]},
        {"sources": [None]},
        {"sources": ["x"], "extra": 1},
    ],
)
def test_api_refuses_bad_input(api_for, agent, target, source, payload):
    before = snapshot()
    assert api_for(agent).post(merge_url(target), payload, format="json").status_code == 400
    assert snapshot() == before


def test_api_refuses_tickets_the_agent_cannot_see_itself_and_closed_targets(
    api_for, agent, other_agent, requester, make_ticket, target, source, team
):
    secret = make_ticket("HR case", sensitive=True, team=team)
    before = snapshot()
    # a ticket the caller may not see is "no such ticket", whichever side it is on
    assert (
        api_for(other_agent).post(merge_url(target), {"sources": [secret.number]}, format="json").status_code
        == 400
    )
    assert (
        api_for(other_agent).post(merge_url(secret), {"sources": [source.number]}, format="json").status_code
        == 404
    )
    assert (
        api_for(agent).post(merge_url(target), {"sources": [target.number]}, format="json").status_code == 400
    )
    assert api_for(requester).post(
        merge_url(target), {"sources": [source.number]}, format="json"
    ).status_code in (403, 404)
    do_transition_ticket(target, TicketStatus.CANCELLED, actor=agent)
    before = snapshot()
    assert (
        api_for(agent).post(merge_url(target), {"sources": [source.number]}, format="json").status_code == 400
    )
    assert snapshot() == before


# --- the page --------------------------------------------------------------------------------------------
def test_the_page_confirms_then_merges(client, agent, target, source):
    client.force_login(agent)
    url = reverse("tickets:ticket-merge", args=[target.pk])
    before = snapshot()
    page = client.get(url, {"sources": f"{source.number.lower()}, "})
    assert page.status_code == 200 and 'data-testid="merge-plan"' in page.content.decode()
    assert snapshot() == before
    response = client.post(url, {"sources": source.number})
    assert response.status_code == 302
    detail = client.get(reverse("tickets:ticket-detail", args=[target.pk])).content.decode()
    assert f"from {source.number}" in detail and "Still down" in detail
    merged = client.get(reverse("tickets:ticket-detail", args=[source.pk])).content.decode()
    assert 'data-testid="merged-into"' in merged


def test_the_page_says_why_a_merge_is_refused(client, agent, viewer, target, source):
    client.force_login(agent)
    url = reverse("tickets:ticket-merge", args=[target.pk])
    before = snapshot()
    for sources in ("INC-999999", target.number, ""):
        response = client.post(url, {"sources": sources})
        assert response.status_code == 400 and 'data-testid="merge-error"' in response.content.decode()
    client.force_login(viewer)
    assert client.post(url, {"sources": source.number}).status_code == 403
    assert client.put(url).status_code in (403, 405)
    assert snapshot() == before


# --- the edges the mutation run found untested ------------------------------------------------------
def test_at_most_fifty_sources_at_once(target, requester):
    # Unsaved tickets are enough: the limit is checked before anything is read.
    fifty = [Ticket(pk=100_000 + index) for index in range(50)]
    with pytest.raises(ValidationError) as refused:
        check_merge(target, [*fifty, Ticket(pk=200_000)], actor=requester)
    assert refused.value.message_dict == {"sources": ["At most 50 tickets at once."]}
    # the same ticket twice counts once
    with pytest.raises(PermissionDenied):
        check_merge(target, [*fifty, fifty[0]], actor=requester)
    # fifty pass the limit (and stop at the next rule: a requester does not merge)
    with pytest.raises(PermissionDenied) as refused_person:
        check_merge(target, fifty, actor=requester)
    assert str(refused_person.value) == "Only agents merge tickets."


def test_only_agents_merge_and_automation_may(target, source, requester, viewer, other_requester):
    before = snapshot()
    for person in (requester, viewer, other_requester):
        with pytest.raises(PermissionDenied) as refused:
            do_merge_tickets(target, [source], actor=person)
        assert str(refused.value) == "Only agents merge tickets."
    assert snapshot() == before
    # automation (no actor) merges
    do_merge_tickets(target, [source], actor=None)
    assert Ticket.objects.get(pk=source.pk).status == TicketStatus.CLOSED
    assert target.comments.filter(merged_from=source).count() == 2


def test_every_source_must_be_one_the_agent_may_change(make_ticket, other_team, team, other_agent, agent):
    target = make_ticket("Switch down", team=other_team)
    visible = make_ticket("Switch down here too", team=other_team)
    secret = make_ticket("HR case", sensitive=True, team=team)
    assert target.is_visible_to(other_agent) and not secret.is_visible_to(other_agent)
    # refused before anything is locked or written (the preview of the page and the API checks so)
    with pytest.raises(PermissionDenied) as refused:
        check_merge(target, [visible, secret], actor=other_agent)
    assert str(refused.value) == "You may not change this ticket."
    assert check_merge(target, [visible], actor=other_agent) == [visible]
    before = snapshot()
    with pytest.raises(PermissionDenied):
        do_merge_tickets(target, [visible, secret], actor=other_agent)
    assert snapshot() == before


def test_the_preview_counts_each_kind_once(make_ticket, target, source, agent, team):
    # a second reply (with its attachment), a second watcher, links both ways: counted through
    # joins, every count would multiply without its distinct
    do_add_comment(
        source, actor=agent, body="Relay restarted", attachments=[SimpleUploadedFile("log.txt", b"log")]
    )
    do_watch_ticket(source, user=agent)
    first, second = make_ticket("Printer", team=team), make_ticket("Scanner", team=team)
    do_add_relation(source, target=first, kind="related", actor=agent)
    do_add_relation(source, target=second, kind="related", actor=agent)
    do_add_relation(first, target=source, kind="caused_by", actor=agent)
    # links with the target itself do not move (they would become self-links)
    do_add_relation(source, target=target, kind="related", actor=agent)
    do_add_relation(target, target=source, kind="caused_by", actor=agent)
    [plan] = merge_plan(target, [source])
    assert (plan.source, plan.replies, plan.notes, plan.attachments, plan.watchers, plan.relations) == (
        source,
        2,
        1,
        2,
        2,
        3,
    )


def test_links_the_target_already_has_are_dropped_not_doubled(make_ticket, target, source, agent, team):
    first, second = make_ticket("Printer", team=team), make_ticket("Scanner", team=team)
    # the first link of the source is dropped (it would be a self-link): the later ones still move
    do_add_relation(source, target=target, kind="related", actor=agent)
    do_add_relation(target, target=first, kind="related", actor=agent)  # from the target
    do_add_relation(second, target=target, kind="caused_by", actor=agent)  # to the target
    do_add_relation(source, target=first, kind="related", actor=agent)  # the same as the target's
    do_add_relation(second, target=source, kind="caused_by", actor=agent)  # the same as the target's
    do_add_relation(source, target=second, kind="related", actor=agent)  # new for the target
    do_add_relation(first, target=source, kind="caused_by", actor=agent)  # new for the target
    do_merge_tickets(target, [source], actor=agent)
    assert sorted(TicketRelation.objects.values_list("source", "target", "kind")) == sorted(
        [
            (target.pk, first.pk, "related"),
            (second.pk, target.pk, "caused_by"),
            (target.pk, second.pk, "related"),
            (first.pk, target.pk, "caused_by"),
            (source.pk, target.pk, "duplicate_of"),
        ]
    )


def test_a_merge_failing_half_way_writes_nothing(target, source, agent):
    def fail(**kwargs):
        raise RuntimeError("listener down")

    signals.ticket_merged.connect(fail, sender=Ticket, dispatch_uid="test-merge-fails")
    before = snapshot()
    try:
        with pytest.raises(RuntimeError):
            do_merge_tickets(target, [source], actor=agent)
    finally:
        signals.ticket_merged.disconnect(sender=Ticket, dispatch_uid="test-merge-fails")
    # the comments, attachments, watchers and links had moved before the listener failed
    assert snapshot() == before


def test_a_link_the_target_has_the_other_way_round_is_not_stated_twice(
    make_ticket, target, source, agent, team
):
    # "X related T" and "T related X" say the same; so do "T parent_of Y" and "Y child_of T", and
    # two tickets cannot each be the duplicate of the other (the rules of do_add_relation)
    other, child, original = (make_ticket(title, team=team) for title in ("Printer", "Scanner", "Fax"))
    do_add_relation(other, target=target, kind="related", actor=agent)
    do_add_relation(target, target=child, kind="parent_of", actor=agent)
    do_add_relation(original, target=target, kind="duplicate_of", actor=agent)
    do_add_relation(source, target=other, kind="related", actor=agent)
    do_add_relation(child, target=source, kind="child_of", actor=agent)
    do_add_relation(source, target=original, kind="duplicate_of", actor=agent)
    do_merge_tickets(target, [source], actor=agent)
    assert sorted(TicketRelation.objects.values_list("source", "target", "kind")) == sorted(
        [
            (other.pk, target.pk, "related"),
            (target.pk, child.pk, "parent_of"),
            (original.pk, target.pk, "duplicate_of"),
            (source.pk, target.pk, "duplicate_of"),
        ]
    )
