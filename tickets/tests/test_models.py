"""The ticket's own rules: status machine, priority matrix, numbers, audit trail, archive."""

import dataclasses
import itertools

import pytest
from django.db import IntegrityError, connection, transaction

from tickets.models import (
    TRANSITIONS,
    IllegalTransition,
    Priority,
    PriorityRule,
    ResolutionRequired,
    StaleTicket,
    Ticket,
    TicketAudit,
    TicketStatus,
    priority_for,
)
from tickets.models.ticket import DONE_STATUSES, FINAL_STATUSES, OPEN_STATUSES, PAUSED_STATUSES, status_path

pytestmark = pytest.mark.django_db

ALL_MOVES = list(itertools.product(TicketStatus.values, TicketStatus.values))
ALLOWED = [(source, target) for source, target in ALL_MOVES if target in TRANSITIONS[source]]
REFUSED = [(source, target) for source, target in ALL_MOVES if target not in TRANSITIONS[source]]


def put_in(ticket: Ticket, status: str) -> Ticket:
    """Force a status for the test's starting point (bypassing the machine on purpose)."""
    Ticket.objects.filter(pk=ticket.pk).update(status=status)
    ticket.refresh_from_db()
    return ticket


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_it_allows_every_move_of_the_map(make_ticket, agent, source, target):
    ticket = put_in(make_ticket(), source)
    previous = ticket.transition_to(target, actor=agent, resolution="Replaced the toner.")
    ticket.refresh_from_db()
    assert previous == source
    assert ticket.status == target


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_it_refuses_every_move_outside_the_map(make_ticket, agent, source, target):
    ticket = put_in(make_ticket(), source)
    version = ticket.version
    with pytest.raises(IllegalTransition) as refused:
        ticket.transition_to(target, actor=agent, resolution="Replaced the toner.")
    assert refused.value.allowed == list(TRANSITIONS[source])
    ticket.refresh_from_db()
    assert (ticket.status, ticket.version) == (source, version)


def test_it_refuses_an_unknown_status_listing_the_allowed_ones(make_ticket, agent):
    ticket = make_ticket()
    with pytest.raises(IllegalTransition) as refused:
        ticket.transition_to("done", actor=agent)
    assert "Unknown status" in refused.value.message
    assert refused.value.allowed == list(TRANSITIONS[TicketStatus.NEW])


def test_it_needs_a_resolution_to_resolve(make_ticket, agent):
    ticket = make_ticket()
    with pytest.raises(ResolutionRequired):
        ticket.transition_to(TicketStatus.RESOLVED, actor=agent, resolution="   ")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW
    ticket.resolve(actor=agent, resolution="Rebooted the print server.")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    assert ticket.resolution == "Rebooted the print server."
    assert ticket.resolved_at is not None


def test_it_needs_a_new_resolution_after_a_reopen(make_ticket, agent):
    ticket = make_ticket()
    ticket.resolve(actor=agent, resolution="Rebooted.")
    ticket.reopen(actor=agent, reason="still broken")
    with pytest.raises(ResolutionRequired):
        ticket.resolve(actor=agent, resolution="")


def test_it_counts_reopens(make_ticket, agent):
    ticket = make_ticket()
    for round_ in range(2):
        ticket.resolve(actor=agent, resolution=f"Attempt {round_}")
        ticket.reopen(actor=agent, reason="came back")
    ticket.refresh_from_db()
    assert ticket.reopen_count == 2
    assert ticket.resolved_at is None
    # Moving back to open from in_progress is not a reopen.
    ticket.transition_to(TicketStatus.IN_PROGRESS, actor=agent)
    ticket.transition_to(TicketStatus.OPEN, actor=agent)
    ticket.refresh_from_db()
    assert ticket.reopen_count == 2


def test_it_keeps_a_closed_ticket_closed(make_ticket, agent):
    ticket = make_ticket()
    ticket.resolve(actor=agent, resolution="Done.")
    ticket.close(actor=agent)
    ticket.refresh_from_db()
    assert ticket.is_final and ticket.closed_at is not None
    for status in TicketStatus.values:
        with pytest.raises(IllegalTransition):
            ticket.transition_to(status, actor=agent, resolution="again")


def test_the_final_statuses_are_the_ones_without_a_move_out():
    assert FINAL_STATUSES == (TicketStatus.CLOSED, TicketStatus.CANCELLED)
    # A request pending approval pauses its clocks but is not open work yet.
    assert set(PAUSED_STATUSES) - {TicketStatus.PENDING_APPROVAL} < set(OPEN_STATUSES)
    assert TicketStatus.PENDING_APPROVAL not in OPEN_STATUSES + DONE_STATUSES
    assert set(FINAL_STATUSES) < set(DONE_STATUSES)


def test_status_paths_follow_the_machine():
    assert status_path("new", "in_progress") == ["in_progress"]
    assert status_path("resolved", "in_progress") == ["open", "in_progress"]
    assert status_path("closed", "open") == []


def test_a_ticket_finds_its_way_to_a_status(make_ticket):
    ticket = put_in(make_ticket(), TicketStatus.RESOLVED)
    assert ticket.status_path_to(TicketStatus.IN_PROGRESS) == ["open", "in_progress"]
    assert ticket.status_path_to(TicketStatus.RESOLVED) == []
    assert put_in(ticket, TicketStatus.CANCELLED).status_path_to(TicketStatus.OPEN) == []


@pytest.mark.parametrize(
    ("impact", "urgency", "expected"),
    [
        ("high", "high", "critical"),
        ("high", "medium", "high"),
        ("medium", "high", "high"),
        ("high", "low", "medium"),
        ("medium", "medium", "medium"),
        ("low", "high", "medium"),
        ("medium", "low", "low"),
        ("low", "medium", "low"),
        ("low", "low", "low"),
    ],
)
def test_it_derives_the_priority_from_the_itil_matrix(make_ticket, impact, urgency, expected):
    assert priority_for(impact, urgency) == expected
    assert make_ticket(impact=impact, urgency=urgency).priority == expected


def test_it_uses_the_matrix_edited_in_the_admin(make_ticket):
    PriorityRule.objects.create(impact="low", urgency="low", priority=Priority.HIGH)
    assert make_ticket(impact="low", urgency="low").priority == Priority.HIGH
    assert make_ticket(impact="medium", urgency="low").priority == Priority.LOW  # untouched cell


def test_it_keeps_an_overridden_priority_when_impact_changes(make_ticket, agent):
    ticket = make_ticket(impact="low", urgency="low")
    ticket.set_priority(Priority.CRITICAL, actor=agent, reason="CEO's laptop")
    ticket.set_impact_urgency(impact="medium", urgency="medium", actor=agent)
    ticket.refresh_from_db()
    assert ticket.priority == Priority.CRITICAL
    assert ticket.priority_reason == "CEO's laptop"


def test_it_refuses_a_priority_override_without_reason(make_ticket, agent):
    ticket = make_ticket()
    with pytest.raises(ValueError, match="reason"):
        ticket.set_priority(Priority.HIGH, actor=agent, reason=" ")


def test_it_numbers_tickets_per_type(make_ticket):
    first = make_ticket(type="incident")
    request = make_ticket(type="service_request")
    second = make_ticket(type="incident")
    assert first.number.startswith("INC-") and len(first.number) == 10
    assert request.number.startswith("REQ-")
    assert int(second.number[4:]) == int(first.number[4:]) + 1


def test_it_refuses_a_duplicate_number(make_ticket):
    ticket = make_ticket()
    clone = make_ticket()
    clone.number = ticket.number
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=clone.pk).update(number=ticket.number)


def test_it_audits_changes_with_actor_and_reason(make_ticket, agent, team):
    ticket = make_ticket()
    ticket.set_priority(Priority.CRITICAL, actor=agent, reason="Outage on the trading floor")
    ticket.assign(to=agent, team=team, actor=agent)
    trail = ticket.audit_trail()
    priority_change = next(
        change for change in trail if change.field == "priority" and change.event == "changed"
    )
    assert (priority_change.old, priority_change.new) == ("medium", "critical")
    assert priority_change.actor == agent.email
    assert priority_change.reason == "Outage on the trading floor"
    assignee_change = next(change for change in trail if change.field == "assignee")
    assert (assignee_change.old, assignee_change.new) == (None, agent.email)
    assert next(change for change in trail if change.field == "team").new == "Service Desk"
    # The later change does not inherit the earlier reason.
    assert assignee_change.reason == ""


def test_the_newest_saves_of_the_trail_are_read_alone(make_ticket, agent, team):
    ticket = make_ticket()
    ticket.set_priority(Priority.CRITICAL, actor=agent, reason="Outage")
    ticket.assign(to=agent, team=team, actor=agent)
    ticket.set_priority(Priority.LOW, actor=agent, reason="Workaround in place")
    whole = ticket.audit_trail()
    assert ticket.audit_trail(last=10) == whole  # fewer saves than asked: the whole trail
    assert ticket.audit_trail(last=4) == whole  # exactly as many: the creation is still shown
    newest = ticket.audit_trail(last=2)
    # the assignment and the last priority change, diffed against the state before them
    assert [(change.field, change.old, change.new) for change in newest] == [
        ("assignee", None, agent.email),
        ("team", None, "Service Desk"),
        ("priority", "critical", "low"),
    ]
    assert newest == whole[-3:]
    assert [change.field for change in ticket.audit_trail(last=1)] == ["priority"]


def test_the_creation_lists_the_fields_set_and_the_changes_are_read_only(make_ticket, team):
    ticket = make_ticket(team=team, sensitive=True)  # no assignee, no category
    created = [(change.field, change.old, change.new) for change in ticket.audit_trail()]
    assert created == [
        ("status", None, "new"),
        ("priority", None, "medium"),
        ("team", None, "Service Desk"),
        ("sensitive", None, True),
    ]
    open_ticket = make_ticket()  # not sensitive: False is not worth a line at creation
    assert "sensitive" not in {change.field for change in open_ticket.audit_trail()}
    with pytest.raises(dataclasses.FrozenInstanceError):
        ticket.audit_trail()[0].reason = "rewritten"  # the trail is a record, not a draft


def test_it_does_not_stamp_a_finished_context_on_later_changes(make_ticket, agent):
    ticket = make_ticket()
    ticket.set_priority(Priority.HIGH, actor=agent, reason="VIP")
    # A raw update made later in the same transaction, outside any audit context.
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.OPEN)
    last = ticket.audit_trail()[-1]
    assert last.field == "status"
    assert (last.actor, last.reason) == ("", "")


@pytest.mark.parametrize("statement", ["UPDATE {table} SET status = 'closed'", "DELETE FROM {table}"])
def test_it_keeps_the_audit_trail_immutable_in_the_database(make_ticket, statement):
    make_ticket()
    assert TicketAudit.objects.count() == 1
    with (
        pytest.raises(Exception, match="Cannot update or delete"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement.format(table=TicketAudit._meta.db_table))
    assert TicketAudit.objects.get().status == "new"


def test_it_refuses_to_delete_a_ticket(make_ticket):
    ticket = make_ticket()
    with pytest.raises(Exception, match="Cannot delete"), transaction.atomic():
        ticket.delete()
    assert Ticket.objects.filter(pk=ticket.pk).exists()


def test_it_archives_instead_of_deleting(make_ticket, agent):
    ticket = make_ticket()
    assert ticket.archive(actor=agent) is True
    assert ticket.archive(actor=agent) is False
    ticket.refresh_from_db()
    assert ticket.archived


def test_it_refuses_a_save_over_a_newer_version(make_ticket, agent, other_agent):
    ticket = make_ticket()
    mine = Ticket.objects.get(pk=ticket.pk)
    theirs = Ticket.objects.get(pk=ticket.pk)
    theirs.set_priority(Priority.HIGH, actor=other_agent, reason="theirs", expected_version=theirs.version)
    with pytest.raises(StaleTicket, match="changed by someone else"):
        mine.set_priority(Priority.LOW, actor=agent, reason="mine", expected_version=ticket.version)
    ticket.refresh_from_db()
    assert ticket.priority == Priority.HIGH
    assert ticket.version == 2


def test_it_hides_tickets_by_role(
    make_ticket, admin_user, agent, other_agent, requester, other_requester, viewer, team, other_team
):
    plain = make_ticket("plain")
    sensitive_mine = make_ticket("HR case", sensitive=True, team=team)
    sensitive_other = make_ticket("Legal case", sensitive=True, team=other_team)
    theirs = make_ticket("theirs", requester=other_requester)

    def seen(user):
        return set(Ticket.objects.visible_to(user).values_list("title", flat=True))

    assert seen(admin_user) == {"plain", "HR case", "Legal case", "theirs"}
    assert seen(agent) == {"plain", "HR case", "theirs"}
    assert seen(other_agent) == {"plain", "Legal case", "theirs"}
    assert seen(viewer) == {"plain", "theirs"}
    assert seen(requester) == {"plain", "HR case", "Legal case"}
    assert seen(other_requester) == {"theirs"}
    # An assignee from another team sees the sensitive ticket assigned to them.
    sensitive_mine.assign(to=other_agent, actor=admin_user)
    assert "HR case" in seen(other_agent)
    assert plain.is_visible_to(viewer) and not theirs.is_visible_to(requester)
    assert not sensitive_other.is_visible_to(agent)


def test_old_presence_rows_are_forgotten(make_ticket, agent, other_agent):
    from datetime import timedelta

    from django.utils import timezone

    from tickets.models import TicketPresence
    from tickets.tasks import forget_old_presence

    ticket = make_ticket(title="Presence")
    TicketPresence.objects.create(ticket=ticket, user=agent, seen_at=timezone.now() - timedelta(days=2))
    TicketPresence.objects.create(ticket=ticket, user=other_agent)
    assert forget_old_presence() == 1
    assert list(TicketPresence.objects.values_list("user", flat=True)) == [other_agent.pk]


def test_marking_presence_keeps_one_row_per_ticket_and_user(make_ticket, agent, other_agent):
    import datetime

    import time_machine

    from tickets.models import TicketPresence

    ticket, other = make_ticket(title="Presence"), make_ticket(title="Elsewhere")
    start = datetime.datetime(2026, 12, 6, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        TicketPresence.objects.mark(ticket.pk, agent.pk, editing=True)
        TicketPresence.objects.mark(other.pk, agent.pk, editing=False)
        TicketPresence.objects.mark(ticket.pk, other_agent.pk, editing=False)
    with time_machine.travel(start + datetime.timedelta(seconds=20), tick=False):
        TicketPresence.objects.mark(ticket.pk, agent.pk, editing=False)  # the next ping
    rows = TicketPresence.objects.order_by("ticket_id", "user_id").values_list(
        "ticket", "user", "editing", "seen_at"
    )
    assert list(rows) == [
        (ticket.pk, agent.pk, False, start + datetime.timedelta(seconds=20)),
        (ticket.pk, other_agent.pk, False, start),
        (other.pk, agent.pk, False, start),
    ]


def test_the_queryset_filters_pick_what_they_name(make_ticket, agent, requester, other_requester):
    plain = make_ticket("plain")
    assigned = make_ticket("assigned", assignee=agent)
    critical = make_ticket("critical", impact="high", urgency="high")
    theirs = make_ticket("theirs", requester=other_requester)
    resolved = make_ticket("resolved")
    resolved.resolve(actor=agent, resolution="Done.")
    archived = make_ticket("archived")
    archived.archive(actor=agent)

    def titles(queryset):
        return set(queryset.values_list("title", flat=True))

    everything = {"plain", "assigned", "critical", "theirs", "resolved", "archived"}
    assert titles(Ticket.objects.unassigned()) == everything - {"assigned"}
    assert titles(Ticket.objects.critical()) == {"critical"}
    assert titles(Ticket.objects.open()) == everything - {"resolved"}
    assert titles(Ticket.objects.active()) == everything - {"archived"}
    assert titles(Ticket.objects.requested_by(other_requester)) == {"theirs"}
    assert {plain.pk, assigned.pk, critical.pk, theirs.pk} <= set(Ticket.objects.values_list("pk", flat=True))


def test_the_breakdown_lists_the_largest_groups_first_then_by_name(make_ticket, team, other_team):
    from tickets.models import Category

    printers = Category.objects.create(name="Printers")
    network = Category.objects.create(name="Network")
    make_ticket("a", team=team, category=network)
    make_ticket("b", team=other_team, category=printers)
    make_ticket("c", team=other_team, category=printers)
    make_ticket("d", category=network)
    make_ticket("e")
    breakdown = Ticket.objects.breakdown()
    assert breakdown["total"] == 5
    assert breakdown["by_status"] == {"new": 5}
    assert breakdown["by_priority"] == {"medium": 5}
    # Largest first; equal counts by name (None, shown as "", before any name).
    assert breakdown["by_team"] == [
        {"id": None, "name": None, "count": 2},
        {"id": other_team.pk, "name": "Network", "count": 2},
        {"id": team.pk, "name": "Service Desk", "count": 1},
    ]
    assert breakdown["by_category"] == [
        {"id": network.pk, "name": "Network", "count": 2},
        {"id": printers.pk, "name": "Printers", "count": 2},
        {"id": None, "name": None, "count": 1},
    ]
    assert Ticket.objects.none().breakdown() == {
        "total": 0,
        "by_status": {},
        "by_priority": {},
        "by_category": [],
        "by_team": [],
    }


def test_each_type_draws_its_number_from_its_own_sequence(make_ticket):
    incident = make_ticket(type="incident")
    request = make_ticket(type="service_request")
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM tickets_incident_number_seq")
        (incidents,) = cursor.fetchone()
        cursor.execute("SELECT last_value FROM tickets_request_number_seq")
        (requests,) = cursor.fetchone()
    assert incident.number == f"INC-{incidents:06d}"
    assert request.number == f"REQ-{requests:06d}"


def test_assigning_a_team_only_when_one_is_given(make_ticket, agent, team, other_team):
    ticket = make_ticket(team=team)
    version = ticket.version
    ticket.assign(to=agent, actor=agent)  # no team given: the team stays
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.team, ticket.version) == (agent, team, version + 1)
    ticket.assign(to=agent, team=other_team, actor=agent)
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.team, ticket.version) == (agent, other_team, version + 2)
    ticket.assign(to=agent, team=other_team, actor=agent)  # nothing changes: nothing written
    ticket.refresh_from_db()
    assert ticket.version == version + 2


def test_unarchiving_says_whether_anything_changed(make_ticket, agent):
    ticket = make_ticket()
    assert ticket.unarchive(actor=agent) is False
    assert ticket.version == 1
    assert ticket.archive(actor=agent) is True
    assert ticket.unarchive(actor=agent) is True
    ticket.refresh_from_db()
    assert not ticket.archived
    assert ticket.version == 3
    assert ticket.unarchive(actor=agent) is False


def test_the_first_response_is_marked_once(make_ticket):
    from datetime import timedelta

    from django.utils import timezone

    ticket = make_ticket()
    first = timezone.now() - timedelta(hours=1)
    assert ticket.mark_first_response(first) is True
    assert ticket.first_response_at == first
    assert ticket.mark_first_response(first + timedelta(minutes=5)) is False
    assert ticket.first_response_at == first
    ticket.refresh_from_db()
    assert ticket.first_response_at == first


def test_a_system_change_is_audited_with_its_label_and_reason(make_ticket):
    ticket = make_ticket()
    ticket.set_priority(Priority.HIGH, actor=None, reason="Jira priority", actor_label="jira")
    last = ticket.audit_trail()[-1]
    assert (last.field, last.actor, last.actor_id, last.reason) == ("priority", "jira", None, "Jira priority")


def test_search_matches_the_words_or_the_exact_number(make_ticket):
    printer = make_ticket("Printer on floor 3 is jammed")
    vpn = make_ticket("VPN drops every hour")
    assert list(Ticket.objects.search("printer")) == [printer]
    assert list(Ticket.objects.search(f" {vpn.number.lower()} ")) == [vpn]
    assert Ticket.objects.search("   ").count() == 2


def test_saving_an_existing_ticket_keeps_its_priority(make_ticket):
    ticket = make_ticket(impact="low", urgency="low")
    assert ticket.priority == Priority.LOW
    ticket.priority = Priority.HIGH  # as the admin form does
    ticket.save()
    ticket.refresh_from_db()
    assert ticket.priority == Priority.HIGH


def test_each_verb_writes_what_changed_and_nothing_when_nothing_did(make_ticket, agent):
    ticket = make_ticket(impact="low", urgency="low")
    ticket.set_impact_urgency(impact="high", urgency="high", actor=agent)
    ticket.refresh_from_db()
    assert (ticket.impact, ticket.urgency, ticket.priority, ticket.version) == ("high", "high", "critical", 2)
    ticket.set_impact_urgency(impact="high", urgency="high", actor=agent)
    ticket.set_priority(Priority.LOW, actor=agent, reason="Test lab")
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.priority_overridden, ticket.version) == ("low", True, 3)
    ticket.set_priority(Priority.LOW, actor=agent, reason="Test lab")
    assert ticket.update_fields({"title": "Toner"}, actor=agent) == ["title"]
    ticket.refresh_from_db()
    assert (ticket.title, ticket.version) == ("Toner", 4)
    assert ticket.update_fields({"title": "Toner"}, actor=agent) == []
    ticket.refresh_from_db()
    assert ticket.version == 4


def test_who_may_reply_to_and_change_a_ticket(make_ticket, agent, other_agent, requester, team):
    ticket = make_ticket(sensitive=True, team=team)
    assert ticket.can_take_reply_from(None) and ticket.can_take_reply_from(requester)
    assert ticket.can_be_changed_by(agent)
    assert not ticket.can_be_changed_by(other_agent)  # an agent who cannot see it
    assert not ticket.can_be_changed_by(requester)
    put_in(ticket, TicketStatus.CLOSED)
    assert not ticket.can_take_reply_from(requester)
    assert ticket.can_take_reply_from(agent)
    assert ticket.can_take_reply_from(None)  # automation (a comment mirrored from Jira)
    own = put_in(make_ticket(requester=agent), TicketStatus.CANCELLED)
    assert not own.can_take_reply_from(agent)  # an agent replying as its requester


def test_an_inactive_or_anonymous_user_sees_no_ticket(make_ticket, agent):
    from django.contrib.auth.models import AnonymousUser

    make_ticket()
    agent.is_active = False
    assert not Ticket.objects.visible_to(agent).exists()
    assert not Ticket.objects.visible_to(AnonymousUser()).exists()


def test_the_refusals_say_what_was_refused(make_ticket, agent):
    ticket = make_ticket()
    with pytest.raises(IllegalTransition) as refused:
        ticket.transition_to(TicketStatus.CLOSED, actor=agent)
    assert refused.value.message == "Cannot move a new ticket to closed."
    assert (refused.value.current, refused.value.requested) == ("new", "closed")
    with pytest.raises(ValueError, match="Unknown priority 'urgent'"):
        ticket.set_priority("urgent", actor=agent, reason="VIP")
    Ticket.objects.filter(pk=ticket.pk).update(version=5)
    with pytest.raises(StaleTicket) as stale:
        ticket.update_fields({"title": "Mine"}, actor=agent, expected_version=1)
    assert stale.value.expected_version == 1
    assert str(stale.value) == (
        f"{ticket.number} was changed by someone else (version 5, you edited version 1). Reload it and try again."
    )
    assert ticket.version == 5  # reloaded


def test_closing_stamps_the_closing_time(make_ticket, agent):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    ticket = make_ticket()
    ticket.resolve(actor=agent, resolution="Done.")
    assert ticket.closed_at is None
    closing = timezone.now() + timedelta(hours=1)
    with time_machine.travel(closing, tick=False):
        ticket.close(actor=agent, reason="confirmed")
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.closed_at == ticket.closed_at == stored.updated_at == closing
    assert stored.resolved_at is not None and stored.reopen_count == 0


def test_the_visibility_through_a_link_keeps_what_visible_to_keeps(
    make_ticket, admin_user, agent, other_agent, requester, other_requester, viewer, team, other_team
):
    """``Ticket.objects.visibility(user, "target")`` on a link keeps the links whose target
    ``visible_to(user)`` keeps, for every role (links read their ends through it)."""
    from django.contrib.auth.models import AnonymousUser

    from tickets.models import TicketRelation

    hub = make_ticket("hub")
    ends = [
        make_ticket("plain"),
        make_ticket("HR case", sensitive=True, team=team),
        make_ticket("Legal case", sensitive=True, team=other_team),
        make_ticket("theirs", requester=other_requester),
        make_ticket("assigned", sensitive=True, team=other_team, assignee=agent),
    ]
    for end in ends:
        TicketRelation.objects.create(source=hub, target=end, kind="related")
    inactive = make_user_like(agent)
    for user in (
        admin_user,
        agent,
        other_agent,
        requester,
        other_requester,
        viewer,
        inactive,
        AnonymousUser(),
    ):
        (through_target,) = Ticket.objects.visibility(user, "target")
        (itself,) = Ticket.objects.visibility(user)
        by_link = set(TicketRelation.objects.filter(through_target).values_list("target__title", flat=True))
        assert by_link == set(
            Ticket.objects.visible_to(user).exclude(pk=hub.pk).values_list("title", flat=True)
        )
        assert set(Ticket.objects.filter(itself).values_list("title", flat=True)) == set(
            Ticket.objects.visible_to(user).values_list("title", flat=True)
        )
    assert len(Ticket.objects.visibility(agent, "source", "target")) == 2


def make_user_like(user):
    """A deactivated copy of ``user`` (same role and teams)."""
    from itsm.models import User

    copy = User.objects.create_user(email=f"gone.{user.email}", password="x", role=user.role, is_active=False)
    copy.teams.set(user.teams.all())
    return copy
