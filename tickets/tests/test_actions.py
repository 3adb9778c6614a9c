"""The do_* workflows: conversation, attachments, relations, sensitive access, bulk, archive."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from tickets import actions, signals
from tickets.models import (
    AccessChannel,
    Attachment,
    CatalogItem,
    Comment,
    IllegalTransition,
    Priority,
    RelationKind,
    SensitiveAccess,
    StaleTicket,
    Ticket,
    TicketRelation,
    TicketStatus,
)
from tickets.models.catalog import parse_catalog_fields

pytestmark = pytest.mark.django_db


# --- creation ------------------------------------------------------------------------------------
def test_it_creates_a_ticket_with_its_requester_watching(make_ticket, requester):
    ticket = make_ticket(actor=requester)
    assert ticket.status == TicketStatus.NEW
    assert ticket.requester == requester and ticket.organisation == requester.organisation
    assert list(ticket.watchers.values_list("user", flat=True)) == [requester.pk]


def test_it_refuses_a_requester_opening_for_someone_else(requester, other_requester):
    with pytest.raises(PermissionDenied):
        actions.do_create_ticket(actor=requester, requester=other_requester, title="For Erin")
    assert not Ticket.objects.exists()


def test_it_refuses_a_viewer_opening_a_ticket(viewer):
    with pytest.raises(PermissionDenied):
        actions.do_create_ticket(actor=viewer, title="Looking only")
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", "  "), ("type", "problem"), ("impact", "huge"), ("urgency", "now"), ("priority", "p1")],
)
def test_it_refuses_bad_fields_at_creation(agent, requester, field, value):
    values = {"title": "Broken VPN", field: value}
    with pytest.raises(ValidationError) as refused:
        actions.do_create_ticket(actor=agent, requester=requester, **values)
    assert field in refused.value.message_dict
    assert not Ticket.objects.exists()


def test_it_refuses_a_requester_as_assignee(agent, requester, other_requester):
    with pytest.raises(ValidationError, match="not an agent"):
        actions.do_create_ticket(actor=agent, requester=requester, title="VPN", assignee=other_requester)


def test_it_keeps_the_creation_priority_override_reason(agent, requester):
    ticket = actions.do_create_ticket(
        actor=agent,
        requester=requester,
        title="Payroll down",
        priority=Priority.CRITICAL,
        priority_reason="Payday",
    )
    assert (ticket.priority, ticket.priority_overridden) == (Priority.CRITICAL, True)
    created = ticket.audit_trail()[0]
    assert (created.reason, created.actor) == ("Payday", agent.email)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("create", "priority_reason"),
        ("edit", "priority_reason"),
        ("change_priority", "reason"),
        ("bulk", "reason"),
    ],
)
def test_every_way_of_overriding_the_priority_needs_a_reason(make_ticket, agent, requester, entry, field):
    ticket = make_ticket()
    attempts = {
        "create": lambda: actions.do_create_ticket(
            actor=agent, requester=requester, title="VPN", priority=Priority.HIGH, priority_reason=" "
        ),
        "edit": lambda: actions.do_edit_ticket(ticket, {"priority": Priority.HIGH}, actor=agent),
        "change_priority": lambda: actions.do_change_priority(
            ticket, actor=agent, priority=Priority.HIGH, reason=""
        ),
        "bulk": lambda: actions.do_bulk_action([ticket.pk], actor=agent, action="priority", priority="high"),
    }
    with pytest.raises(ValidationError) as refused:
        attempts[entry]()
    assert refused.value.message_dict == {field: ["Overriding the priority needs a reason."]}
    assert list(Ticket.objects.values_list("priority", "version")) == [(Priority.MEDIUM, 1)]


# --- conversation ------------------------------------------------------------------------------
def test_it_sets_first_response_on_the_first_public_agent_reply_only(
    make_ticket, agent, other_agent, requester
):
    ticket = make_ticket()
    actions.do_add_comment(ticket, actor=requester, body="Any news?")
    actions.do_add_comment(ticket, actor=agent, body="Looking (note)", internal=True)
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    reply = actions.do_add_comment(ticket, actor=agent, body="On it.")
    actions.do_add_comment(ticket, actor=other_agent, body="Me too.")
    ticket.refresh_from_db()
    assert ticket.first_response_at == reply.created_at


def test_it_keeps_internal_notes_from_requesters(make_ticket, agent, requester):
    ticket = make_ticket()
    actions.do_add_comment(ticket, actor=agent, body="Internal", internal=True)
    actions.do_add_comment(ticket, actor=agent, body="Public")
    assert list(Comment.objects.visible_to(requester).values_list("body", flat=True)) == ["Public"]
    assert Comment.objects.visible_to(agent).count() == 2
    with pytest.raises(PermissionDenied):
        actions.do_add_comment(ticket, actor=requester, body="sneaky", internal=True)
    assert Comment.objects.count() == 2


def test_it_refuses_comments_from_strangers_and_viewers(make_ticket, other_requester, viewer):
    ticket = make_ticket()
    for actor in (other_requester, viewer):
        with pytest.raises(PermissionDenied):
            actions.do_add_comment(ticket, actor=actor, body="hello")
    assert not Comment.objects.exists()


def test_it_moves_a_pending_customer_ticket_back_when_the_requester_replies(make_ticket, agent, requester):
    ticket = make_ticket()
    actions.do_transition_ticket(ticket, TicketStatus.PENDING_CUSTOMER, actor=agent)
    actions.do_add_comment(ticket, actor=requester, body="Here is the log.")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN


def test_it_edits_a_comment_in_place_and_tells_listeners(make_ticket, agent, requester):
    ticket = make_ticket()
    comment = actions.do_add_comment(ticket, actor=agent, body="Restart the relay", internal=True)
    heard = []

    def listener(**kwargs):
        heard.append(kwargs)

    signals.comment_edited.connect(listener, dispatch_uid="test-edit")
    try:
        actions.do_edit_comment(comment, actor=agent, body="Restart the mail relay", internal=False)
        actions.do_edit_comment(comment, actor=agent, body="Restart the mail relay")  # the same: no event
    finally:
        signals.comment_edited.disconnect(dispatch_uid="test-edit")
    comment.refresh_from_db()
    assert (comment.body, comment.internal) == ("Restart the mail relay", False)
    assert comment.updated_at > comment.created_at
    assert [(kw["previous_body"], kw["previous_internal"]) for kw in heard] == [("Restart the relay", True)]
    # The earlier text is kept, with who changed it (append-only, written by the database).
    (revision,) = comment.revisions.all()
    assert (revision.body, revision.internal) == ("Restart the relay", True)
    assert revision.pgh_context["actor"] == agent.email and revision.pgh_context["reason"] == "comment edited"
    assert Comment.objects.visible_to(requester).get() == comment


def test_it_refuses_edits_once_the_ticket_is_closed_but_mirrors_jira_edits(make_ticket, agent):
    ticket = make_ticket()
    comment = actions.do_add_comment(ticket, actor=agent, body="Replaced the toner")
    actions.do_transition_ticket(ticket, TicketStatus.CANCELLED, actor=agent, reason="duplicate")
    comment.refresh_from_db()
    with pytest.raises(ValidationError, match="closed"):
        actions.do_edit_comment(comment, actor=agent, body="Replaced the toner and the drum")
    assert Comment.objects.get(pk=comment.pk).body == "Replaced the toner"
    actions.do_edit_comment(comment, actor=None, body="Replaced the drum", actor_label="system:jira")
    assert Comment.objects.get(pk=comment.pk).body == "Replaced the drum"


def test_it_refuses_an_empty_edit_and_other_peoples_comments(make_ticket, agent, other_agent, requester):
    ticket = make_ticket()
    comment = actions.do_add_comment(ticket, actor=agent, body="Checking")
    with pytest.raises(ValidationError):
        actions.do_edit_comment(comment, actor=agent, body="   ")
    for actor in (other_agent, requester):
        with pytest.raises(PermissionDenied):
            actions.do_edit_comment(comment, actor=actor, body="Rewritten")
    own = actions.do_add_comment(ticket, actor=requester, body="Here is the log")
    with pytest.raises(PermissionDenied):  # requesters write no internal notes, by edit neither
        actions.do_edit_comment(own, actor=requester, body="Here is the log", internal=True)
    comment.refresh_from_db()
    assert comment.body == "Checking" and comment.updated_at == comment.created_at


def test_an_agent_replying_on_their_own_ticket_is_no_first_response(make_ticket, agent):
    ticket = make_ticket(requester=agent)
    actions.do_add_comment(ticket, actor=agent, body="Still broken")
    ticket.refresh_from_db()
    assert ticket.first_response_at is None


def test_a_mirrored_comment_is_a_desk_reply_only_from_desk_staff(make_ticket, agent):
    ticket = make_ticket()
    actions.do_add_comment(ticket, actor=None, body="From a Jira customer", author_label="Jira")
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    reply = actions.do_add_comment(
        ticket, actor=None, body="From a Jira agent", author_label="Jira", by_desk_staff=True
    )
    ticket.refresh_from_db()
    assert ticket.first_response_at == reply.created_at
    with pytest.raises(ValueError, match="by_desk_staff"):
        actions.do_add_comment(ticket, actor=agent, body="Mine", by_desk_staff=True)
    assert Comment.objects.count() == 2


def test_only_the_requesters_public_reply_gives_a_waiting_ticket_back_to_the_desk(
    make_ticket, agent, requester
):
    ticket = make_ticket(requester=requester)
    actions.do_add_comment(ticket, actor=agent, body="On it")
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.NEW
    actions.do_transition_ticket(ticket, TicketStatus.PENDING_CUSTOMER, actor=agent)
    actions.do_add_comment(ticket, actor=agent, body="Any news?")
    actions.do_add_comment(ticket, actor=agent, body="Chased by phone", internal=True)
    actions.do_add_comment(ticket, actor=None, body="Mirrored", author_label="Jira", by_desk_staff=True)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.PENDING_CUSTOMER
    # a resolved ticket the requester writes back about is not solved for them
    actions.do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="Fixed")
    actions.do_add_comment(ticket, actor=requester, body="Not fixed for me")
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.OPEN


def test_a_reply_logs_its_time_for_agents_only(make_ticket, agent, requester):
    ticket = make_ticket()
    reply = actions.do_add_comment(ticket, actor=agent, body="Replaced the relay", time_spent=15)
    billed = actions.do_add_comment(ticket, actor=agent, body="On site", time_spent=30, billable=True)
    assert sorted(ticket.worklogs.values_list("comment", "user", "minutes", "billable")) == [
        (reply.pk, agent.pk, 15, False),
        (billed.pk, agent.pk, 30, True),
    ]
    with pytest.raises(PermissionDenied):
        actions.do_add_comment(ticket, actor=requester, body="I spent an hour", time_spent=60)
    assert Comment.objects.count() == 2 and ticket.worklogs.count() == 2


def test_a_comment_whose_listener_fails_is_not_kept(make_ticket, agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    ticket = make_ticket()

    def fail(**kwargs):
        raise RuntimeError("listener down")

    signals.comment_added.connect(fail, sender=Ticket, dispatch_uid="test-comment-fails")
    try:
        with pytest.raises(RuntimeError):
            actions.do_add_comment(
                ticket, actor=agent, body="Log", attachments=[SimpleUploadedFile("log.txt", b"42")]
            )
    finally:
        signals.comment_added.disconnect(sender=Ticket, dispatch_uid="test-comment-fails")
    assert not Comment.objects.exists() and not Attachment.objects.exists()
    assert Ticket.objects.get(pk=ticket.pk).first_response_at is None


def test_an_edit_whose_listener_fails_is_not_kept(make_ticket, agent):
    ticket = make_ticket()
    comment = actions.do_add_comment(ticket, actor=agent, body="Checking")

    def fail(**kwargs):
        raise RuntimeError("listener down")

    signals.comment_edited.connect(fail, sender=Ticket, dispatch_uid="test-edit-fails")
    try:
        with pytest.raises(RuntimeError):
            actions.do_edit_comment(comment, actor=agent, body="Checked")
    finally:
        signals.comment_edited.disconnect(sender=Ticket, dispatch_uid="test-edit-fails")
    assert Comment.objects.get(pk=comment.pk).body == "Checking"
    assert not comment.revisions.exists()


def test_an_edit_of_only_the_visibility_is_an_edit_and_the_same_text_is_none(make_ticket, agent):
    ticket = make_ticket()
    comment = actions.do_add_comment(ticket, actor=agent, body="Checking")
    actions.do_edit_comment(comment, actor=agent, body="Checking")
    actions.do_edit_comment(comment, actor=agent, body=" Checking ", internal=False)
    assert not comment.revisions.exists()
    actions.do_edit_comment(comment, actor=agent, body="Checking", internal=True)
    comment.refresh_from_db()
    assert comment.internal and comment.revisions.count() == 1


def test_watching_a_ticket_once_and_only_a_visible_one(make_ticket, agent, other_requester):
    ticket = make_ticket()
    assert actions.do_watch_ticket(ticket, user=agent) is True
    assert actions.do_watch_ticket(ticket, user=agent) is False
    with pytest.raises(PermissionDenied):
        actions.do_watch_ticket(ticket, user=other_requester)
    assert actions.do_unwatch_ticket(ticket, user=agent) is True
    assert actions.do_unwatch_ticket(ticket, user=agent) is False
    assert list(ticket.watchers.values_list("user", flat=True)) == [ticket.requester_id]


# --- attachments -------------------------------------------------------------------------------------
def test_it_stores_an_accepted_attachment(make_ticket, agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    ticket = make_ticket()
    upload = SimpleUploadedFile("log.txt", b"error 42", content_type="text/plain")
    comment = actions.do_add_comment(ticket, actor=agent, body="Log attached", attachments=[upload])
    attachment = Attachment.objects.get()
    assert (attachment.comment, attachment.filename, attachment.size) == (comment, "log.txt", 8)
    assert attachment.file.path.startswith(str(tmp_path))
    assert attachment.file.read() == b"error 42"


def test_it_refuses_an_attachment_over_the_size_limit(make_ticket, agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_MAX_BYTES = 10
    ticket = make_ticket()
    upload = SimpleUploadedFile("big.txt", b"x" * 11, content_type="text/plain")
    with pytest.raises(ValidationError, match="the limit is 10 bytes"):
        actions.do_add_comment(ticket, actor=agent, body="big", attachments=[upload])
    assert not Comment.objects.exists() and not Attachment.objects.exists()


def test_it_refuses_an_attachment_of_a_type_not_allowed(make_ticket, agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_ALLOWED_TYPES = ["text/plain"]
    ticket = make_ticket()
    upload = SimpleUploadedFile("run.exe", b"MZ", content_type="application/x-msdownload")
    with pytest.raises(ValidationError, match="not accepted"):
        actions.do_add_comment(ticket, actor=agent, body="exe", attachments=[upload])
    with pytest.raises(ValidationError, match="not accepted"):
        actions.do_create_ticket(actor=agent, title="With exe", attachments=[upload])
    assert not Attachment.objects.exists()
    assert Ticket.objects.count() == 1


def test_a_refused_attachment_stores_none_of_the_others(make_ticket, agent, settings, tmp_path):
    # every file is checked before any is written: the store keeps no file of a refused comment
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_ALLOWED_TYPES = ["text/plain"]
    ticket = make_ticket()
    good = SimpleUploadedFile("log.txt", b"error 42", content_type="text/plain")
    bad = SimpleUploadedFile("run.exe", b"MZ", content_type="application/x-msdownload")
    with pytest.raises(ValidationError, match="not accepted"):
        actions.do_add_comment(ticket, actor=agent, body="Two files", attachments=[good, bad])
    assert not Comment.objects.exists() and not Attachment.objects.exists()
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


# --- relations ----------------------------------------------------------------------------------------
def test_it_links_tickets_once(make_ticket, agent):
    first, second = make_ticket("one"), make_ticket("two")
    actions.do_add_relation(second, target=first, kind=RelationKind.RELATED, actor=agent)
    with pytest.raises(ValidationError, match="already"):
        actions.do_add_relation(second, target=first, kind=RelationKind.RELATED, actor=agent)
    with pytest.raises(ValidationError, match="already"):
        actions.do_add_relation(first, target=second, kind=RelationKind.RELATED, actor=agent)
    assert TicketRelation.objects.count() == 1


def test_it_treats_the_inverse_of_a_parent_link_as_a_duplicate(make_ticket, agent):
    parent, child = make_ticket("parent"), make_ticket("child")
    actions.do_add_relation(parent, target=child, kind=RelationKind.PARENT_OF, actor=agent)
    with pytest.raises(ValidationError, match="already"):
        actions.do_add_relation(child, target=parent, kind=RelationKind.CHILD_OF, actor=agent)
    assert TicketRelation.objects.count() == 1


def test_it_refuses_a_self_link(make_ticket, agent):
    ticket = make_ticket()
    with pytest.raises(ValidationError, match="itself"):
        actions.do_add_relation(ticket, target=ticket, kind=RelationKind.RELATED, actor=agent)
    assert not TicketRelation.objects.exists()


def test_it_refuses_a_link_to_a_ticket_the_agent_cannot_see(make_ticket, agent, other_team):
    ticket = make_ticket()
    hidden = make_ticket("hidden", sensitive=True, team=other_team)
    with pytest.raises(ValidationError, match="No such ticket"):
        actions.do_add_relation(ticket, target=hidden, kind=RelationKind.RELATED, actor=agent)


def test_it_closes_a_duplicate_with_a_link_to_the_original(make_ticket, agent):
    original, duplicate = make_ticket("original"), make_ticket("duplicate")
    actions.do_add_relation(
        duplicate, target=original, kind=RelationKind.DUPLICATE_OF, actor=agent, close_duplicate=True
    )
    duplicate.refresh_from_db()
    assert duplicate.status == TicketStatus.CLOSED
    assert duplicate.resolution == f"Duplicate of {original.number}."
    original.refresh_from_db()
    assert original.status == TicketStatus.NEW
    reasons = {change.reason for change in duplicate.audit_trail() if change.field == "status"}
    assert f"duplicate of {original.number}" in reasons


def test_it_refuses_close_duplicate_on_other_kinds(make_ticket, agent):
    first, second = make_ticket("one"), make_ticket("two")
    with pytest.raises(ValidationError):
        actions.do_add_relation(
            second, target=first, kind=RelationKind.RELATED, actor=agent, close_duplicate=True
        )
    assert not TicketRelation.objects.exists()


def test_automation_links_tickets_without_an_actor(make_ticket, team):
    first, second = make_ticket("one", team=team), make_ticket("two", team=team)
    relation = actions.do_add_relation(second, target=first, kind=RelationKind.RELATED, actor=None)
    assert (relation.source, relation.target, relation.created_by) == (second, first, None)


def test_closing_a_resolved_duplicate_only_closes_it(make_ticket, agent):
    original, duplicate = make_ticket("original"), make_ticket("duplicate")
    actions.do_transition_ticket(duplicate, TicketStatus.RESOLVED, actor=agent, resolution="Fixed")
    duplicate.refresh_from_db()
    actions.do_add_relation(
        duplicate, target=original, kind=RelationKind.DUPLICATE_OF, actor=agent, close_duplicate=True
    )
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.resolution) == (TicketStatus.CLOSED, "Fixed")


def test_a_link_whose_listener_fails_is_not_kept(make_ticket, agent):
    first, second = make_ticket("one"), make_ticket("two")

    def fail(**kwargs):
        raise RuntimeError("listener down")

    signals.relation_added.connect(fail, sender=Ticket, dispatch_uid="test-relation-fails")
    try:
        with pytest.raises(RuntimeError):
            actions.do_add_relation(second, target=first, kind=RelationKind.RELATED, actor=agent)
    finally:
        signals.relation_added.disconnect(sender=Ticket, dispatch_uid="test-relation-fails")
    assert not TicketRelation.objects.exists()


def test_resolving_a_parent_with_its_children_is_all_or_nothing(make_ticket, agent):
    parent, child, other = make_ticket("parent"), make_ticket("child"), make_ticket("other child")
    actions.do_add_relation(parent, target=child, kind=RelationKind.PARENT_OF, actor=agent)
    actions.do_add_relation(other, target=parent, kind=RelationKind.CHILD_OF, actor=agent)

    def fail(ticket, **kwargs):
        if ticket.pk == other.pk:
            raise RuntimeError("listener down")

    signals.ticket_status_changed.connect(fail, sender=Ticket, dispatch_uid="test-child-fails")
    try:
        with pytest.raises(RuntimeError):
            actions.do_resolve_with_children(parent, actor=agent, resolution="Relay restarted")
    finally:
        signals.ticket_status_changed.disconnect(sender=Ticket, dispatch_uid="test-child-fails")
    assert set(Ticket.objects.values_list("status", flat=True)) == {TicketStatus.NEW}
    resolved = actions.do_resolve_with_children(parent, actor=agent, resolution="Relay restarted")
    assert resolved == [child, other]
    assert set(Ticket.objects.values_list("status", flat=True)) == {TicketStatus.RESOLVED}


# --- sensitive tickets ---------------------------------------------------------------------------------
def test_it_records_every_view_of_a_sensitive_ticket(make_ticket, agent, team):
    sensitive = make_ticket("HR", sensitive=True, team=team)
    plain = make_ticket("plain")
    actions.do_record_sensitive_view(sensitive, agent)
    actions.do_record_sensitive_view(sensitive, agent, channel=AccessChannel.API)
    assert actions.do_record_sensitive_view(plain, agent) is None
    assert list(SensitiveAccess.objects.order_by("id").values_list("user_email", "channel")) == [
        (agent.email, "web"),
        (agent.email, "api"),
    ]
    # a view no one is logged in for (a shared link's preview, say) is still recorded
    anonymous = actions.do_record_sensitive_view(sensitive, AnonymousUser())
    assert (anonymous.user, anonymous.user_email) == (None, "anonymous")


def test_it_keeps_sensitive_views_append_only(make_ticket, agent, team):
    access = actions.do_record_sensitive_view(make_ticket(sensitive=True, team=team), agent)
    with pytest.raises(Exception, match="Cannot update or delete"), transaction.atomic():
        SensitiveAccess.objects.filter(pk=access.pk).update(user_email="someone@else")
    with pytest.raises(Exception, match="Cannot update or delete"), transaction.atomic():
        SensitiveAccess.objects.filter(pk=access.pk).delete()
    assert SensitiveAccess.objects.get().user_email == agent.email


# --- permissions and collisions ----------------------------------------------------------------------------
def test_it_refuses_changes_by_requesters_viewers_and_other_teams(
    make_ticket, requester, viewer, other_agent, team
):
    ticket = make_ticket(sensitive=True, team=team)
    for actor in (requester, viewer, other_agent):
        with pytest.raises(PermissionDenied):
            actions.do_transition_ticket(ticket, TicketStatus.OPEN, actor=actor)
        with pytest.raises(PermissionDenied):
            actions.do_change_priority(ticket, actor=actor, priority="high", reason="because")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.version) == (TicketStatus.NEW, 1)


def test_it_lets_a_requester_reopen_only_their_own_resolved_ticket(
    make_ticket, agent, requester, other_requester
):
    ticket = make_ticket()
    actions.do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="Fixed")
    with pytest.raises(PermissionDenied):
        actions.do_reopen_ticket(ticket, actor=other_requester)
    actions.do_reopen_ticket(ticket, actor=requester, reason="Still broken")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopen_count) == (TicketStatus.OPEN, 1)


def test_it_refuses_an_edit_based_on_an_old_version(make_ticket, agent, other_agent, team):
    ticket = make_ticket(team=team)
    seen_version = ticket.version
    actions.do_update_ticket(
        ticket, actor=other_agent, fields={"title": "Theirs"}, expected_version=seen_version
    )
    with pytest.raises(StaleTicket):
        actions.do_update_ticket(ticket, actor=agent, fields={"title": "Mine"}, expected_version=seen_version)
    with pytest.raises(StaleTicket):
        actions.do_transition_ticket(ticket, TicketStatus.OPEN, actor=agent, expected_version=seen_version)
    ticket.refresh_from_db()
    assert (ticket.title, ticket.status) == ("Theirs", TicketStatus.NEW)


def test_it_archives_and_unarchives(make_ticket, agent):
    ticket = make_ticket()
    actions.do_archive_ticket(ticket, actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).archived
    actions.do_unarchive_ticket(ticket, actor=agent)
    assert not Ticket.objects.get(pk=ticket.pk).archived


# --- bulk -------------------------------------------------------------------------------------------------
def test_it_applies_a_bulk_action_to_every_ticket(make_ticket, agent, team):
    tickets = [make_ticket(f"t{i}") for i in range(3)]
    changed = actions.do_bulk_action(
        [t.pk for t in tickets], actor=agent, action="assign", assignee=agent, team=team
    )
    assert len(changed) == 3
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {agent.pk}


def test_it_changes_nothing_when_one_ticket_refuses(make_ticket, agent):
    good, bad = make_ticket("good"), make_ticket("bad")
    actions.do_transition_ticket(bad, TicketStatus.CANCELLED, actor=agent)
    with pytest.raises(actions.BulkActionError) as refused:
        actions.do_bulk_action([good.pk, bad.pk, 999999], actor=agent, action="status", status="in_progress")
    assert set(refused.value.errors) == {bad.pk, 999999}
    assert "Cannot move a cancelled ticket" in refused.value.errors[bad.pk]
    good.refresh_from_db()
    assert good.status == TicketStatus.NEW


def test_it_closes_in_bulk_resolving_first(make_ticket, agent):
    fresh, resolved = make_ticket("fresh"), make_ticket("resolved")
    actions.do_transition_ticket(resolved, TicketStatus.RESOLVED, actor=agent, resolution="Fixed")
    with pytest.raises(actions.BulkActionError):
        actions.do_bulk_action([fresh.pk, resolved.pk], actor=agent, action="close")
    assert Ticket.objects.get(pk=resolved.pk).status == TicketStatus.RESOLVED
    actions.do_bulk_action([fresh.pk, resolved.pk], actor=agent, action="close", resolution="Mass fix")
    assert set(Ticket.objects.values_list("status", flat=True)) == {TicketStatus.CLOSED}
    # A retry changes nothing twice.
    actions.do_bulk_action([fresh.pk, resolved.pk], actor=agent, action="close", resolution="Mass fix")
    assert Ticket.objects.get(pk=fresh.pk).version == 3


def test_it_tags_in_bulk(make_ticket, agent):
    ticket = make_ticket(tags=["vpn", "old"])
    actions.do_bulk_action(
        [ticket.pk], actor=agent, action="tag", tags=["Urgent", "vpn"], remove_tags=["old"]
    )
    assert Ticket.objects.get(pk=ticket.pk).tags == ["vpn", "urgent"]


def test_it_refuses_bad_bulk_arguments(make_ticket, agent):
    ticket = make_ticket()
    for kwargs in (
        {"action": "explode"},
        {"action": "status", "status": "done"},
        {"action": "priority", "priority": "high"},
        {"action": "tag"},
    ):
        with pytest.raises(ValidationError):
            actions.do_bulk_action([ticket.pk], actor=agent, **kwargs)
    with pytest.raises(ValidationError):
        actions.do_bulk_action([], actor=agent, action="close")
    assert Ticket.objects.get(pk=ticket.pk).version == 1


def test_it_refuses_bulk_changes_to_tickets_the_agent_cannot_see(make_ticket, agent, other_team):
    hidden = make_ticket(sensitive=True, team=other_team)
    with pytest.raises(actions.BulkActionError) as refused:
        actions.do_bulk_action([hidden.pk], actor=agent, action="priority", priority="high", reason="x")
    assert refused.value.errors == {hidden.pk: "No such ticket."}


def test_it_refuses_a_transition_through_bulk_like_one_by_one(make_ticket, agent):
    ticket = make_ticket()
    with pytest.raises(IllegalTransition):
        actions.do_transition_ticket(ticket, TicketStatus.CLOSED, actor=agent)
    with pytest.raises(actions.BulkActionError):
        actions.do_bulk_action([ticket.pk], actor=agent, action="status", status="closed")


def test_at_most_five_hundred_tickets_in_one_bulk_action(agent):
    # ids of no ticket: the limit is checked first, then each missing id is named
    with pytest.raises(ValidationError) as refused:
        actions.do_bulk_action(range(1_000_001, 1_000_502), actor=agent, action="close")
    assert refused.value.message_dict == {"ids": ["At most 500 tickets at once."]}
    with pytest.raises(actions.BulkActionError) as missing:
        actions.do_bulk_action([*range(1_000_001, 1_000_501), 1_000_001], actor=agent, action="close")
    assert len(missing.value.errors) == 500


def test_bulk_assign_needs_something_to_assign_and_not_both(make_ticket, agent, team):
    ticket = make_ticket(team=team)
    with pytest.raises(ValidationError) as nothing:
        actions.do_bulk_action([ticket.pk], actor=agent, action="assign")
    assert nothing.value.message_dict == {"assignee": ["Give an agent, a team, or unassign."]}
    with pytest.raises(ValidationError) as both:
        actions.do_bulk_action([ticket.pk], actor=agent, action="assign", assignee=agent, unassign=True)
    assert both.value.message_dict == {"assignee": ["Either an agent or unassign, not both."]}
    assert Ticket.objects.get(pk=ticket.pk).version == 1
    # each alone is enough
    actions.do_bulk_action([ticket.pk], actor=agent, action="assign", assignee=agent)
    assert Ticket.objects.get(pk=ticket.pk).assignee == agent
    actions.do_bulk_action([ticket.pk], actor=agent, action="assign", unassign=True)
    assert Ticket.objects.get(pk=ticket.pk).assignee is None


def test_bulk_refusals_say_why_per_ticket(make_ticket, agent, requester):
    ticket = make_ticket("Mine")
    # a refused rule (a ValidationError): its message, not its repr
    with pytest.raises(actions.BulkActionError) as refused:
        actions.do_bulk_action([ticket.pk], actor=agent, action="status", status="resolved")
    assert refused.value.errors == {
        ticket.pk: f"{ticket.number}: Resolving a ticket needs a resolution summary."
    }
    # a ticket its requester sees but may not change (a PermissionDenied)
    with pytest.raises(actions.BulkActionError) as denied:
        actions.do_bulk_action([ticket.pk], actor=requester, action="tag", tags=["x"])
    assert denied.value.errors == {ticket.pk: f"{ticket.number}: You may not change this ticket."}
    assert Ticket.objects.get(pk=ticket.pk).version == 1


def test_bulk_resolves_with_the_resolution(make_ticket, agent):
    ticket = make_ticket()
    actions.do_bulk_action(
        [ticket.pk], actor=agent, action="status", status="resolved", resolution="Relay restarted"
    )
    ticket.refresh_from_db()
    assert (ticket.status, ticket.resolution) == (TicketStatus.RESOLVED, "Relay restarted")


def test_bulk_priority_overrides_once(make_ticket, agent):
    ticket = make_ticket()
    assert (ticket.priority, ticket.priority_overridden) == (Priority.MEDIUM, False)
    # the derived priority, now held as an override with its reason
    actions.do_bulk_action([ticket.pk], actor=agent, action="priority", priority="medium", reason="VIP")
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.priority_overridden, ticket.priority_reason) == ("medium", True, "VIP")
    # an overridden ticket takes a new override
    actions.do_bulk_action([ticket.pk], actor=agent, action="priority", priority="high", reason="Outage")
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.priority_reason, ticket.version) == ("high", "Outage", 3)
    # already at that override: left alone (a retry with another reason changes nothing)
    actions.do_bulk_action([ticket.pk], actor=agent, action="priority", priority="high", reason="Again")
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.priority_reason, ticket.version) == ("high", "Outage", 3)


def test_bulk_applies_a_macro_the_agent_may_use(make_ticket, agent, other_agent, team):
    first, second = make_ticket("one", team=team), make_ticket("two", team=team)
    macro = actions.do_save_macro(
        None, {"name": "Logs", "body": "Please send the logs.", "add_tags": ["logs"]}, actor=agent
    )
    actions.do_bulk_action([first.pk, second.pk], actor=agent, action="macro", macro=macro)
    assert all(tags == ["logs"] for tags in Ticket.objects.values_list("tags", flat=True))
    assert Comment.objects.filter(body="Please send the logs.").count() == 2
    # a macro given with another action is not applied
    actions.do_bulk_action([first.pk], actor=agent, action="tag", tags=["mail"], macro=macro)
    assert Ticket.objects.get(pk=first.pk).tags == ["logs", "mail"]
    assert Comment.objects.filter(body="Please send the logs.").count() == 2
    # no macro, or one of someone else's: refused before any ticket is read
    with pytest.raises(ValidationError) as missing:
        actions.do_bulk_action([first.pk], actor=agent, action="macro")
    assert missing.value.message_dict == {"macro": ["Choose a macro."]}
    theirs = actions.do_save_macro(None, {"name": "Mine", "body": "Hi"}, actor=other_agent)
    with pytest.raises(PermissionDenied):
        actions.do_bulk_action([first.pk], actor=agent, action="macro", macro=theirs)
    assert Comment.objects.count() == 2
    # a refused reply (a ValidationError): the agent's own closed ticket takes none from them
    own = make_ticket("My laptop", team=team, requester=agent)
    actions.do_transition_ticket(own, TicketStatus.RESOLVED, actor=agent, resolution="Fixed")
    actions.do_transition_ticket(own, TicketStatus.CLOSED, actor=agent)
    with pytest.raises(actions.BulkActionError) as refused:
        actions.do_bulk_action([second.pk, own.pk], actor=agent, action="macro", macro=macro)
    assert refused.value.errors == {own.pk: f"{own.number}: This ticket is closed; please open a new one."}
    assert Comment.objects.count() == 2


# --- catalog ----------------------------------------------------------------------------------------
def test_it_parses_good_catalog_fields():
    fields = parse_catalog_fields(
        [
            {
                "name": "model",
                "label": "Laptop model",
                "type": "choice",
                "required": True,
                "choices": ["13", "15"],
            },
            {"name": "count", "label": "How many", "type": "number", "min": 1, "max": 5},
            {"name": "why", "label": "Why", "type": "textarea", "max_length": 500, "help": "Business reason"},
        ]
    )
    assert [(f.name, f.type, f.required) for f in fields] == [
        ("model", "choice", True),
        ("count", "number", False),
        ("why", "textarea", False),
    ]
    assert fields[0].choices == ("13", "15")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "x"}, "JSON list"),
        (["text"], "must be an object"),
        ([{"name": "Bad Name", "type": "text"}], "lower-case"),
        ([{"name": "a", "type": "colour"}], "is not one of"),
        ([{"name": "a", "type": "choice"}], "non-empty list"),
        ([{"name": "a", "type": "text", "colour": "red"}], "unknown key"),
        ([{"name": "a", "type": "number", "min": 5, "max": 1}], "greater than max"),
        ([{"name": "a", "type": "text"}, {"name": "a", "type": "date"}], "used twice"),
        ([{"name": "a", "type": "text", "required": "yes"}], "true or false"),
        ([{"name": "a", "type": "number", "max_length": 3}], "max_length only applies"),
    ],
)
def test_it_refuses_bad_catalog_fields(fields, message):
    item = CatalogItem(name="Laptop", slug="laptop", fields=fields)
    with pytest.raises(ValidationError) as refused:
        item.full_clean()
    assert message in " ".join(refused.value.message_dict["fields"])


def test_only_a_resolved_ticket_can_be_reopened(make_ticket, requester, agent):
    from tickets.actions import do_reopen_ticket
    from tickets.models import IllegalTransition

    ticket = make_ticket(title="Still broken")
    with pytest.raises(IllegalTransition, match="Only a resolved ticket"):
        do_reopen_ticket(ticket, actor=requester)
    ticket.refresh_from_db()
    assert ticket.status == "new"
    assert ticket.reopen_count == 0
