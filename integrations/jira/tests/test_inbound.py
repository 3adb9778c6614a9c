"""Applying deliveries to tickets: upsert, idempotence, order, deletes, comments, notes."""

import copy

import pytest

from integrations.jira.inbound import ACTOR, integration_requester
from integrations.jira.models import AccountMapping, JiraComment, WebhookReceipt
from integrations.jira.tests.conftest import payload
from integrations.jira.tests.fakejira import fixture
from itsm.models import AutomationEvent
from tickets import signals
from tickets.models import Comment, Ticket, TicketAudit

pytestmark = pytest.mark.django_db


def ticket_of(key: str = "ITSUP-42") -> Ticket:
    return Ticket.objects.get(jira_link__issue_key=key)


def test_issue_created_makes_a_ticket_through_the_actions(deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    (outcome,) = process()
    assert outcome.result == "created"
    ticket = ticket_of()
    assert ticket.title == "VPN connection times out for all users on floor 3"
    assert ticket.description.startswith(
        "Users on floor 3 cannot connect to the VPN since 09:00.\n\nSteps to reproduce\n"
        "1. Open the VPN client"
    )
    assert "See status page (https://status.example.com) for details." in ticket.description
    assert (ticket.channel, ticket.external_key, ticket.type) == ("jira", "ITSUP-42", "incident")
    assert ticket.priority == "high"  # Jira "High"
    assert ticket.status == "open"  # "Waiting for support"
    assert ticket.tags == ["vpn", "network"]
    assert ticket.requester == integration_requester()
    assert ticket.metadata["jira"]["reporter"] == "Sam Requester"
    link = ticket.jira_link
    assert (link.issue_id, link.origin) == ("10042", "jira")
    assert link.last_seen_updated.isoformat() == "2025-03-14T09:26:53.118000+00:00"
    created = TicketAudit.objects.filter(pgh_obj=ticket, pgh_label="created").get()
    assert created.pgh_context["actor"] == ACTOR
    assert WebhookReceipt.objects.get().state == "processed"


def test_the_ticket_api_shows_the_issue_key(deliver, process, agent, api_for):
    deliver(fixture("jira-webhook-issue-created.json"))
    process()
    body = api_for(agent).get(f"/api/tickets/{ticket_of().pk}/").json()
    assert body["jira_key"] == "ITSUP-42"


def test_issue_updated_changes_status_priority_assignee_and_labels(deliver, process, agent):
    AccountMapping.objects.create(
        account_id="5b109f2e9729b51b54dc274d", display_name="Alex Agent", user=agent
    )
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-issue-updated.json"))
    outcomes = process()
    assert [outcome.result for outcome in outcomes] == ["created", "updated"]
    ticket = ticket_of()
    assert ticket.status == "in_progress"
    assert ticket.priority == "critical"  # Highest
    assert ticket.assignee == agent
    assert ticket.tags == ["major-incident", "network", "vpn"]
    assert set(outcomes[1].changes) == {"tags", "priority", "assignee", "status"}
    statuses = list(
        TicketAudit.objects.filter(pgh_obj=ticket).order_by("pgh_id").values_list("status", flat=True)
    )
    assert statuses[-1] == "in_progress"


def test_an_update_is_one_edit_of_the_ticket_then_one_move_per_status_step(deliver, process, agent, team):
    AccountMapping.objects.create(
        account_id="5b109f2e9729b51b54dc274d", display_name="Alex Agent", user=agent
    )
    deliver(fixture("jira-webhook-issue-created.json"))
    process()
    ticket = ticket_of()
    version, rows = ticket.version, TicketAudit.objects.filter(pgh_obj=ticket).count()
    heard = []
    signals.ticket_updated.connect(
        lambda **kwargs: heard.append(kwargs["changed"]), weak=False, dispatch_uid="t"
    )
    try:
        deliver(fixture("jira-webhook-issue-updated.json"))
        process()
    finally:
        signals.ticket_updated.disconnect(dispatch_uid="t")
    ticket.refresh_from_db()
    # Labels, priority and assignee (who brings their team) in one edit; open → in progress after.
    assert heard == [["tags", "priority", "assignee", "team"], ["status"]]
    assert ticket.version == version + 2
    assert TicketAudit.objects.filter(pgh_obj=ticket).count() == rows + 2
    edit = TicketAudit.objects.filter(pgh_obj=ticket).order_by("pgh_id")[rows]
    assert (edit.priority, edit.assignee_id, edit.team_id) == ("critical", agent.pk, team.pk)
    assert (edit.pgh_context["actor"], edit.pgh_context["reason"]) == (ACTOR, "Jira priority Highest")


def sent_again(data: dict) -> dict:
    """The same facts in a new delivery (Jira sends a repeat with its own timestamp)."""
    return {**data, "timestamp": data["timestamp"] + 1000}


def test_the_same_content_twice_changes_nothing(deliver, process):
    deliver(fixture("jira-webhook-issue-updated.json"), identifier="a")
    process()
    ticket = ticket_of()
    version, audits, events = ticket.version, TicketAudit.objects.count(), AutomationEvent.objects.count()
    # The same content sent again as another delivery (a later timestamp: intake would fold an
    # identical signed body), so the worker's own idempotency is what is tested.
    deliver(sent_again(fixture("jira-webhook-issue-updated.json")), identifier="b")
    (outcome,) = process()
    assert outcome.result == "unchanged"
    ticket.refresh_from_db()
    assert ticket.version == version
    assert TicketAudit.objects.count() == audits
    assert AutomationEvent.objects.count() == events
    assert Ticket.objects.count() == 1


def test_a_delivery_older_than_what_we_hold_is_ignored(deliver, process):
    deliver(fixture("jira-webhook-issue-updated.json"))  # updated 09:57
    process()
    deliver(fixture("jira-webhook-issue-created.json"))  # updated 09:26, arriving late
    (outcome,) = process()
    assert outcome.result == "stale"
    ticket = ticket_of()
    assert (ticket.status, ticket.priority) == ("in_progress", "critical")
    assert WebhookReceipt.objects.order_by("pk").last().state == "ignored"


def test_a_delete_archives_the_ticket_once(deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-issue-deleted.json"))
    deliver(sent_again(fixture("jira-webhook-issue-deleted.json")))
    outcomes = process()
    assert [outcome.result for outcome in outcomes] == ["created", "deleted", "unchanged"]
    ticket = ticket_of()
    assert ticket.archived is True
    assert ticket.jira_link.deleted_at is not None
    (event,) = AutomationEvent.objects.filter(action="jira.issue_deleted")
    assert (event.after, event.reason) == ({"archived": True}, "ITSUP-42 deleted in Jira")
    # Later deliveries about a deleted issue change nothing.
    deliver(fixture("jira-webhook-issue-updated.json"))
    (outcome,) = process()
    assert outcome.result == "ignored"


def test_a_delete_of_an_unknown_issue_is_ignored(deliver, process):
    deliver(fixture("jira-webhook-issue-deleted.json"))
    (outcome,) = process()
    assert outcome.result == "ignored"
    assert Ticket.objects.count() == 0


def test_comments_become_replies_and_internal_comments_internal_notes(deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-comment-created.json"))
    deliver(fixture("jira-webhook-comment-created-internal.json"))
    process()
    ticket = ticket_of()
    reply, note = ticket.comments.order_by("created_at")
    assert (
        reply.body
        == "Hi Sam, we are restarting the VPN concentrator now! ETA 15 min.\n\nWorkaround: use the guest Wi-Fi."
    )
    assert (reply.internal, reply.source, reply.external_id, reply.author_label) == (
        False,
        "jira",
        "10310",
        "Alex Agent",
    )
    assert reply.author is None
    assert note.internal is True and note.external_id == "10311"
    assert "openssl x509" in note.body
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None  # a public answer of a Jira agent


def test_a_repeated_comment_is_added_once(deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-comment-created.json"), identifier="x")
    deliver(sent_again(fixture("jira-webhook-comment-created.json")), identifier="y")
    outcomes = process()
    assert [outcome.result for outcome in outcomes] == ["created", "updated", "unchanged"]
    assert Comment.objects.count() == 1
    assert JiraComment.objects.count() == 1


def test_comment_updated_edits_the_reply_and_an_older_edit_is_ignored(deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-comment-created.json"))
    deliver(fixture("jira-webhook-comment-updated.json"))
    process()
    comment = Comment.objects.get()
    assert "ETA 30 min." in comment.body
    assert comment.updated_at > comment.created_at  # the ticket page marks it edited
    assert AutomationEvent.objects.filter(action="jira.comment_edited").count() == 1
    older = copy.deepcopy(fixture("jira-webhook-comment-created.json"))
    older["webhookEvent"] = "comment_updated"
    deliver(older)
    (outcome,) = process()
    assert outcome.result == "stale"
    comment.refresh_from_db()
    assert "ETA 30 min." in comment.body


def test_comment_deleted_keeps_the_conversation_and_records_it(deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-comment-created.json"))
    deliver(fixture("jira-webhook-comment-deleted.json"))
    process()
    assert Comment.objects.count() == 1
    assert JiraComment.objects.get().deleted_at is not None
    assert AutomationEvent.objects.filter(action="jira.comment_deleted", actor=ACTOR).count() == 1


def test_a_comment_on_an_unseen_issue_creates_its_ticket_from_the_full_issue(deliver, process, fake_jira):
    full = fixture("jira-get-issue-response.json")
    fetched = []

    def fetch(key):
        fetched.append(key)
        return full

    deliver(fixture("jira-webhook-comment-created.json"))
    (outcome,) = process(fetch_issue=fetch)
    assert fetched == ["ITSUP-42"]
    ticket = ticket_of()
    assert ticket.description.startswith("Users on floor 3 cannot connect")  # from the ADF description
    assert ticket.comments.filter(external_id="10310").exists()
    assert outcome.result == "updated"


def test_a_comment_on_an_unseen_issue_without_rest_uses_the_delivery(deliver, process):
    deliver(fixture("jira-webhook-comment-created.json"))
    process()
    ticket = ticket_of()
    assert ticket.title == "VPN connection times out for all users on floor 3"
    assert ticket.comments.count() == 1


def test_the_documented_example_shape_is_understood(deliver, process):
    deliver(fixture("jira-webhook-issue-updated-doc-shape.json"))
    (outcome,) = process()
    assert outcome.result == "created"
    ticket = ticket_of("ITSUP-43")
    assert (ticket.title, ticket.description, ticket.tags) == (
        "Printer queue stuck",
        "Jobs stay in pending forever",
        ["printing"],
    )
    assert ticket.priority == "medium"


def test_a_resolved_issue_walks_the_allowed_moves(deliver, process):
    data = payload(
        "jira-webhook-issue-created.json",
        status={"name": "Resolved", "id": "10005", "statusCategory": {"key": "done"}},
        resolution={"name": "Done", "id": "1"},
    )
    deliver(data)
    process()
    ticket = ticket_of()
    assert ticket.status == "resolved"
    assert ticket.resolution == "Resolved in Jira (Done)."


def test_an_unmapped_status_falls_back_on_its_category(deliver, process):
    deliver(
        payload(
            "jira-webhook-issue-created.json",
            status={"name": "Investigating", "id": "99", "statusCategory": {"key": "indeterminate"}},
        )
    )
    process()
    assert ticket_of().status == "in_progress"


def test_a_move_the_ticket_cannot_make_is_recorded_not_forced(deliver, process):
    deliver(
        payload(
            "jira-webhook-issue-created.json", status={"name": "Closed", "statusCategory": {"key": "done"}}
        )
    )
    process()
    assert ticket_of().status == "closed"
    reopened = payload("jira-webhook-issue-updated.json")
    deliver(reopened)
    process()
    assert ticket_of().status == "closed"  # closed is final here
    assert AutomationEvent.objects.filter(action="jira.status_not_applied").exists()


def test_an_issue_without_a_summary_is_titled_by_its_key(deliver, process):
    data = fixture("jira-webhook-issue-created.json")
    data["issue"]["fields"]["summary"] = ""
    deliver(data)
    process()
    ticket = ticket_of()
    assert ticket.title == "ITSUP-42"  # the key stands in for a missing summary


def test_mentions_in_comments_read_as_names(deliver, process, agent):
    AccountMapping.objects.create(
        account_id="5b109f2e9729b51b54dc274d", display_name="Alex Agent", user=agent
    )
    deliver(fixture("jira-webhook-issue-created.json"))
    data = fixture("jira-webhook-comment-created.json")
    data["comment"]["body"] = "[~accountid:5b109f2e9729b51b54dc274d] please check [~accountid:unknown-1]"
    deliver(data)
    process()
    assert Comment.objects.get().body == "@Alex Agent please check @unknown-1"


def test_a_comment_on_an_issue_jira_will_not_show_uses_the_delivery(deliver, process):
    from integrations.jira.transport import JiraNotFound

    def fetch(key):
        raise JiraNotFound("Issue does not exist or you do not have permission to see it.", status=404)

    deliver(fixture("jira-webhook-comment-created.json"))
    (outcome,) = process(fetch_issue=fetch)
    assert outcome.result == "updated"
    assert ticket_of().comments.count() == 1


def test_jira_down_while_fetching_leaves_the_delivery_pending(deliver, process):
    from integrations.jira.transport import JiraUnavailable

    def fetch(key):
        raise JiraUnavailable("Jira answered 503", status=503)

    deliver(fixture("jira-webhook-comment-created.json"))
    with pytest.raises(JiraUnavailable):
        process(fetch_issue=fetch)
    assert WebhookReceipt.objects.get().state == "pending"
    assert Ticket.objects.count() == 0


def test_an_unexpected_error_marks_the_delivery_failed(deliver, process, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("integrations.jira.inbound.apply.apply_issue", broken)
    deliver(fixture("jira-webhook-issue-created.json"))
    assert process() == [None]
    receipt = WebhookReceipt.objects.get()
    assert receipt.state == "failed" and "bug" in receipt.result


def test_an_outcome_describes_itself_in_one_line():
    from integrations.jira.inbound.apply import Outcome

    ticket = Ticket(number="INC-000042")
    assert Outcome("ignored").describe() == "ignored"
    assert Outcome("ignored", detail="no link").describe() == "ignored: no link"
    assert Outcome("stale", ticket=ticket).describe() == "stale: INC-000042"
    assert (
        Outcome("updated", ticket=ticket, changes=["title", "status"], detail="from reconcile").describe()
        == "updated: INC-000042; changed title, status; from reconcile"
    )
    assert Outcome("unchanged", ticket=ticket, detail="same").describe() == "unchanged: INC-000042; same"


def test_a_jira_account_is_the_mapped_active_user_else_the_same_email(agent, other_agent):
    from integrations.jira.inbound.apply import user_for
    from integrations.jira.mapper import Account

    def account(account_id, email=""):
        return Account(account_id=account_id, display_name="Someone", email=email, account_type="atlassian")

    assert user_for(None) is None
    assert user_for(account("", agent.email)) is None  # no account id: nobody
    AccountMapping.objects.create(account_id="mapped", display_name="Bob", user=agent)
    assert user_for(account("mapped")) == agent
    assert user_for(account("other", other_agent.email.upper())) == other_agent
    assert user_for(account("other")) is None
    agent.is_active = False
    agent.save()
    assert user_for(account("mapped")) is None
    assert user_for(account("mapped", agent.email)) is None


def test_a_long_author_name_is_cut_to_the_label_s_200_characters(deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    comment = copy.deepcopy(fixture("jira-webhook-comment-created.json"))
    comment["comment"]["author"]["displayName"] = "A" * 150 + "B" * 100
    deliver(comment)
    process()
    (reply,) = ticket_of().comments.all()
    assert reply.author_label == "A" * 150 + "B" * 50


def test_each_handled_delivery_is_announced_to_the_listeners_once(deliver, process):
    from integrations.jira.signals import delivery_processed

    heard = []

    def listener(**kwargs):
        heard.append((kwargs["receipt"].event, kwargs["project_key"], kwargs["for_tickets"]))

    delivery_processed.connect(listener, weak=False, dispatch_uid="test-inbound-announced")
    try:
        deliver(fixture("jira-webhook-issue-created.json"))
        process()
    finally:
        delivery_processed.disconnect(dispatch_uid="test-inbound-announced")
    assert heard == [("jira:issue_created", "ITSUP", True)]


def test_an_update_refreshes_the_jira_metadata(deliver, process, settings):
    deliver(fixture("jira-webhook-issue-created.json"))
    process()
    assert "url" not in ticket_of().metadata["jira"]
    settings.JIRA_BASE_URL = "https://jira.example.test"
    deliver(fixture("jira-webhook-issue-updated.json"))
    process()
    assert ticket_of().metadata["jira"]["url"] == "https://jira.example.test/browse/ITSUP-42"


def test_the_echo_of_an_issue_we_created_links_the_ticket_by_its_marker(deliver, process, make_ticket):
    local = make_ticket()
    in_progress = fixture("jira-webhook-issue-updated.json")["issue"]["fields"]["status"]
    # The issue we created comes back before the push stored its id: found by the marker label
    # alone (the ticket carries no external key), its missing link created, nothing duplicated.
    echo = payload(
        "jira-webhook-issue-created.json", labels=["itsm-sync", f"itsm-{local.number}"], status=in_progress
    )
    deliver(echo)
    (outcome,) = process()
    assert outcome.result == "updated" and "status" not in outcome.changes
    assert list(Ticket.objects.all()) == [local] == [ticket_of()]
    link = local.jira_link
    assert (link.issue_id, link.issue_key, link.project_key, link.origin) == (
        "10042",
        "ITSUP-42",
        "ITSUP",
        "local",
    )
    assert link.last_seen_updated.isoformat() == "2025-03-14T09:26:53.118000+00:00"
    # The issue_created echo says nothing about our ticket's status.
    local.refresh_from_db()
    assert local.status == "new"
    # A later update of that issue does move it, and the state held moves forward with it.
    resolved = payload(
        "jira-webhook-issue-updated.json",
        labels=["itsm-sync", f"itsm-{local.number}"],
        status={"name": "Resolved", "id": "10005", "statusCategory": {"key": "done"}},
        resolution={"name": "Done", "id": "1"},
    )
    deliver(resolved)
    (outcome,) = process()
    assert outcome.result == "updated" and "status" in outcome.changes
    local.refresh_from_db()
    assert local.status == "resolved"
    link.refresh_from_db()
    assert link.last_seen_updated.isoformat() == "2025-03-14T09:57:09.871000+00:00"
    # An undated delivery is applied and leaves the state held as it is.
    undated = copy.deepcopy(resolved)
    undated["issue"]["fields"]["summary"] = "VPN fixed on floor 3"
    del undated["issue"]["fields"]["updated"]
    deliver(undated)
    (outcome,) = process()
    assert (outcome.result, outcome.changes) == ("updated", ["title"])
    link.refresh_from_db()
    assert link.last_seen_updated.isoformat() == "2025-03-14T09:57:09.871000+00:00"


def test_a_created_issue_s_assignee_is_applied_when_the_delivery_carries_it(deliver, process, agent):
    AccountMapping.objects.create(
        account_id="5b109f2e9729b51b54dc274d", display_name="Alex Agent", user=agent
    )
    assignee = fixture("jira-webhook-issue-updated.json")["issue"]["fields"]["assignee"]
    deliver(payload("jira-webhook-issue-created.json", assignee=assignee))
    (outcome,) = process()
    assert outcome.result == "created" and "assignee" in outcome.changes
    assert ticket_of().assignee == agent


def test_a_comment_s_state_held_moves_forward_with_unchanged_redeliveries(deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    undated = copy.deepcopy(fixture("jira-webhook-comment-created.json"))
    del undated["comment"]["created"], undated["comment"]["updated"]
    deliver(undated)
    process()
    known = JiraComment.objects.get()
    assert known.last_seen_updated is None
    # The same text again, now dated: nothing to edit, but the date is held.
    deliver(fixture("jira-webhook-comment-created.json"))
    (outcome,) = process()
    assert outcome.result == "unchanged"
    known.refresh_from_db()
    assert known.last_seen_updated.isoformat() == "2025-03-14T10:05:00.512000+00:00"
    later = copy.deepcopy(fixture("jira-webhook-comment-created.json"))
    later["comment"]["updated"] = "2025-03-14T11:00:00.000+0000"
    deliver(later)
    (outcome,) = process()
    assert outcome.result == "unchanged"
    known.refresh_from_db()
    assert known.last_seen_updated.isoformat() == "2025-03-14T11:00:00+00:00"
    # So an edit dated between the two is older than what is held.
    deliver(fixture("jira-webhook-comment-updated.json"))  # updated 10:08
    (outcome,) = process()
    assert outcome.result == "stale"
    assert "ETA 15 min." in Comment.objects.get().body
    # The same text sent undated leaves the date held as it is.
    deliver(sent_again(undated))
    (outcome,) = process()
    assert outcome.result == "unchanged"
    known.refresh_from_db()
    assert known.last_seen_updated.isoformat() == "2025-03-14T11:00:00+00:00"


def test_a_comment_edited_to_nothing_keeps_the_reply(deliver, process):
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-comment-created.json"))
    process()
    before = Comment.objects.get().body
    emptied = copy.deepcopy(fixture("jira-webhook-comment-updated.json"))
    emptied["comment"]["body"] = ""
    deliver(emptied)
    (outcome,) = process()
    assert (outcome.result, outcome.changes) == ("updated", ["comment"])
    assert Comment.objects.get().body == before
    assert not AutomationEvent.objects.filter(action="jira.comment_edited").exists()
    known = JiraComment.objects.get()
    assert known.last_seen_updated.isoformat() == "2025-03-14T10:08:32.004000+00:00"
    # Sent again, the empty edit is already held.
    deliver(sent_again(emptied))
    (outcome,) = process()
    assert outcome.result == "unchanged"
