"""Local tickets, replies and status changes pushed to a fake Jira; echoes; outage then recovery."""

import copy

import pytest
from django.db import connection, transaction

from integrations.jira.models import ChangeState, JiraComment, JiraLink, OutboundChange
from integrations.jira.outbound import push_changes
from integrations.jira.tests.fakejira import fixture
from integrations.jira.transport import JiraAuthError, JiraUnavailable
from itsm.models import AutomationEvent
from tickets.actions import do_add_comment, do_edit_comment, do_transition_ticket
from tickets.models import Comment, Ticket

PUSH = "integrations.jira.tasks.push_ticket"


def creates(fake_jira):
    return fake_jira.requests_to("POST", "/rest/api/3/issue")


def echo_of(fake_jira, key: str, **changes) -> dict:
    """The jira:issue_created delivery Jira sends for an issue (webhook v2 shape, wiki markup)."""
    issue = fake_jira.issues[key]
    data = copy.deepcopy(fixture("jira-webhook-issue-created.json"))
    data["issue"]["id"], data["issue"]["key"] = issue["id"], key
    fields = data["issue"]["fields"]
    ticket = Ticket.objects.get(number=issue["fields"]["labels"][1][len("itsm-") :].upper())
    fields.update(
        {
            "summary": issue["fields"]["summary"],
            "description": f"{ticket.description}\n\nCreated from ITSM ticket [{ticket.number}|http://127.0.0.1:8000/tickets/{ticket.pk}/]",
            "labels": issue["fields"]["labels"],
            "priority": {"name": "Medium", "id": "3"},
            "updated": "2025-03-14T10:00:00.000+0000",
        }
    )
    fields.update(changes)
    return data


@pytest.mark.django_db
def test_a_local_ticket_is_queued_with_its_transaction(fake_jira, make_ticket, new_jobs):
    ticket = make_ticket("Printer on floor 3 is jammed", description="Tray 2 is stuck!")
    change = OutboundChange.objects.get()
    assert (change.ticket, change.kind, change.state) == (ticket, "create_issue", "pending")
    assert new_jobs(PUSH) == 1
    assert creates(fake_jira) == []  # nothing leaves before the worker runs, after commit


@pytest.mark.django_db
def test_nothing_is_queued_when_the_ticket_transaction_rolls_back(fake_jira, make_ticket, new_jobs):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_ticket("Will be rolled back")
        raise RuntimeError("the request failed later")
    assert Ticket.objects.count() == 0
    assert OutboundChange.objects.count() == 0
    assert new_jobs(PUSH) == 0


@pytest.mark.django_db
def test_the_push_creates_the_issue_and_links_the_ticket(fake_jira, make_ticket):
    ticket = make_ticket("Printer on floor 3 is jammed", description="Tray 2 is stuck!\n\n- since 09:00")
    assert push_changes(ticket.pk) == ["create_issue: created ITSUP-1"]
    (request,) = creates(fake_jira)
    fields = request.body["fields"]
    assert fields["project"] == {"key": "ITSUP"}
    assert fields["issuetype"] == {"name": "[System] Incident"}
    assert fields["summary"] == "Printer on floor 3 is jammed"
    assert fields["priority"] == {"id": "3"}
    assert fields["labels"] == ["itsm-sync", f"itsm-{ticket.number}"]
    blocks = fields["description"]["content"]
    assert [block["type"] for block in blocks] == ["paragraph", "bulletList", "paragraph"]
    assert blocks[-1]["content"][1]["text"] == ticket.number
    ticket.refresh_from_db()
    assert ticket.external_key == "ITSUP-1"
    link = ticket.jira_link
    assert (link.issue_key, link.origin, link.issue_id) == (
        "ITSUP-1",
        "local",
        fake_jira.issues["ITSUP-1"]["id"],
    )
    assert OutboundChange.objects.get().state == ChangeState.DONE


@pytest.mark.django_db
def test_a_400_about_fields_is_retried_once_with_a_minimal_payload(fake_jira, make_ticket):
    fake_jira.refuse_fields = {
        "priority": "Field 'priority' cannot be set. It is not on the appropriate screen."
    }
    ticket = make_ticket("VPN down")
    push_changes(ticket.pk)
    first, second = creates(fake_jira)
    assert "priority" in first.body["fields"]
    assert set(second.body["fields"]) == {"project", "issuetype", "summary", "description", "labels"}
    assert second.body["fields"]["labels"] == ["itsm-sync", f"itsm-{ticket.number}"]
    assert OutboundChange.objects.get().state == ChangeState.DONE
    ticket.refresh_from_db()
    assert ticket.external_key == "ITSUP-1"


@pytest.mark.django_db
def test_when_the_minimal_payload_is_refused_too_the_change_fails_visibly(fake_jira, make_ticket, agent):
    fake_jira.required = ["customfield_10050"]
    ticket = make_ticket("VPN down")
    do_add_comment(ticket, actor=agent, body="Looking into it")
    results = push_changes(ticket.pk)
    assert len(creates(fake_jira)) == 2  # the full payload, then the minimal one; no more
    assert results[0].startswith("create_issue: failed")
    create, reply = OutboundChange.objects.order_by("pk")
    assert create.state == ChangeState.FAILED and "customfield_10050" in create.last_error
    assert reply.state == ChangeState.SKIPPED
    assert Ticket.objects.get(pk=ticket.pk).external_key == ""


@pytest.mark.django_db
def test_public_replies_follow_and_internal_notes_do_not(fake_jira, make_ticket, agent):
    ticket = make_ticket("VPN down")
    push_changes(ticket.pk)
    reply = do_add_comment(
        ticket, actor=agent, body="Restarting the concentrator, see https://status.example.com"
    )
    do_add_comment(ticket, actor=agent, body="internal: cert expired", internal=True)
    push_changes(ticket.pk)
    (request,) = fake_jira.requests_to("POST", "/rest/api/3/issue/ITSUP-1/comment")
    nodes = request.body["body"]["content"][0]["content"]
    assert nodes[0]["text"] == "Restarting the concentrator, see "
    assert nodes[1]["marks"][0]["attrs"]["href"] == "https://status.example.com"
    assert JiraComment.objects.get().comment == reply


def edits_of(fake_jira, comment_id: str):
    return fake_jira.requests_to("PUT", f"/rest/api/3/issue/ITSUP-1/comment/{comment_id}")


def pushed_reply(fake_jira, make_ticket, agent, body="Restarting the concentrator"):
    ticket = make_ticket("VPN down")
    push_changes(ticket.pk)
    reply = do_add_comment(ticket, actor=agent, body=body)
    push_changes(ticket.pk)
    return ticket, reply, JiraComment.objects.get(comment=reply).jira_comment_id


def test_an_edited_reply_follows_in_jira_and_its_echo_changes_nothing(
    fake_jira, make_ticket, agent, deliver, process
):
    ticket, reply, jira_id = pushed_reply(fake_jira, make_ticket, agent)
    do_edit_comment(reply, actor=agent, body="Restarting the concentrator, back in 10 minutes")
    push_changes(ticket.pk)
    (request,) = edits_of(fake_jira, jira_id)
    assert request.body["body"]["content"][0]["content"][0]["text"] == (
        "Restarting the concentrator, back in 10 minutes"
    )
    echo = copy.deepcopy(fixture("jira-webhook-comment-updated.json"))
    echo["issue"]["id"], echo["issue"]["key"] = fake_jira.issues["ITSUP-1"]["id"], "ITSUP-1"
    echo["comment"].update(
        {"id": jira_id, "body": "Restarting the concentrator, back in 10 minutes", "jsdPublic": True}
    )
    echo["comment"]["updated"] = "2025-03-14T12:00:00.000+0000"
    deliver(echo)
    (outcome,) = process()
    assert outcome.result == "unchanged"
    assert not AutomationEvent.objects.filter(action="jira.comment_edited").exists()
    reply.refresh_from_db()
    assert reply.body == "Restarting the concentrator, back in 10 minutes"


def test_edits_before_the_push_travel_with_it_and_repeated_edits_are_sent_once(fake_jira, make_ticket, agent):
    ticket = make_ticket("VPN down")
    push_changes(ticket.pk)
    reply = do_add_comment(ticket, actor=agent, body="First words")
    do_edit_comment(reply, actor=agent, body="Second words")
    push_changes(ticket.pk)
    (post,) = fake_jira.requests_to("POST", "/rest/api/3/issue/ITSUP-1/comment")
    assert post.body["body"]["content"][0]["content"][0]["text"] == "Second words"
    jira_id = JiraComment.objects.get().jira_comment_id
    assert edits_of(fake_jira, jira_id) == []
    do_edit_comment(reply, actor=agent, body="Third words")
    do_edit_comment(reply, actor=agent, body="Fourth words")
    push_changes(ticket.pk)
    (put,) = edits_of(fake_jira, jira_id)  # the first edit sent the latest text; the second had nothing left
    assert put.body["body"]["content"][0]["content"][0]["text"] == "Fourth words"
    assert list(OutboundChange.objects.filter(kind="edit_comment").values_list("state", flat=True)) == [
        "done",
        "done",
    ]


def test_an_edit_waits_while_jira_is_down_and_is_refused_once_the_comment_is_gone(
    fake_jira, make_ticket, agent
):
    ticket, reply, jira_id = pushed_reply(fake_jira, make_ticket, agent)
    do_edit_comment(reply, actor=agent, body="Better words")
    fake_jira.fail("PUT", "/rest/api/3/issue/ITSUP-1/comment", 503, times=10)
    with pytest.raises(JiraUnavailable):
        push_changes(ticket.pk)
    assert OutboundChange.objects.get(kind="edit_comment").state == ChangeState.PENDING
    fake_jira.failures.clear()
    fake_jira.issues["ITSUP-1"]["fields"]["comment"]["comments"].clear()  # deleted in Jira meanwhile
    push_changes(ticket.pk)
    change = OutboundChange.objects.get(kind="edit_comment")
    assert change.state == ChangeState.FAILED and "404" in change.last_error
    reply.refresh_from_db()
    assert reply.body == "Better words"  # the local edit stands


@pytest.mark.django_db
def test_status_changes_follow_through_the_transitions_endpoint(fake_jira, make_ticket, agent):
    ticket = make_ticket("VPN down")
    push_changes(ticket.pk)
    do_transition_ticket(ticket, "resolved", actor=agent, resolution="Certificate renewed")
    push_changes(ticket.pk)
    assert len(fake_jira.requests_to("GET", "/rest/api/3/issue/ITSUP-1/transitions")) == 1
    (request,) = fake_jira.requests_to("POST", "/rest/api/3/issue/ITSUP-1/transitions")
    assert request.body == {"transition": {"id": "761"}}
    assert fake_jira.issues["ITSUP-1"]["fields"]["status"]["name"] == "Resolved"
    assert JiraLink.objects.get().snapshot["status"] == "Resolved"


@pytest.mark.django_db
def test_a_status_with_no_transition_fails_without_retrying(fake_jira, make_ticket, agent):
    fake_jira.transitions = [t for t in fake_jira.transitions if t["to"]["statusCategory"]["key"] != "done"]
    ticket = make_ticket("VPN down")
    push_changes(ticket.pk)
    do_transition_ticket(ticket, "cancelled", actor=agent)
    push_changes(ticket.pk)
    change = OutboundChange.objects.get(kind="transition")
    assert change.state == ChangeState.FAILED
    assert "No transition of ITSUP-1" in change.last_error


@pytest.mark.django_db
def test_the_webhook_echo_of_our_push_changes_nothing(fake_jira, make_ticket, agent, deliver, process):
    ticket = make_ticket("Printer on floor 3 is jammed", description="Tray 2 is stuck!")
    push_changes(ticket.pk)
    reply = do_add_comment(ticket, actor=agent, body="On my way")
    push_changes(ticket.pk)
    ticket.refresh_from_db()
    deliver(echo_of(fake_jira, "ITSUP-1"))
    comment_echo = copy.deepcopy(fixture("jira-webhook-comment-created.json"))
    comment_echo["issue"]["id"], comment_echo["issue"]["key"] = fake_jira.issues["ITSUP-1"]["id"], "ITSUP-1"
    answer = fixture("jira-add-comment-response.json")  # what the fake answered to our POST
    comment_echo["comment"].update(
        {
            "id": JiraComment.objects.get().jira_comment_id,
            "body": "On my way",
            "created": answer["created"],
            "updated": answer["updated"],
        }
    )
    deliver(comment_echo)
    outcomes = process()
    assert [outcome.result for outcome in outcomes] == ["unchanged", "unchanged"]
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.title, fresh.description, fresh.status, fresh.priority) == (
        ticket.title,
        ticket.description,
        ticket.status,
        ticket.priority,
    )
    assert list(fresh.comments.all()) == [reply]
    assert Ticket.objects.count() == 1
    assert OutboundChange.objects.count() == 2  # nothing new to push: no loop


@pytest.mark.django_db
def test_an_echo_arriving_before_the_push_stored_its_answer_is_adopted(
    fake_jira, make_ticket, deliver, process
):
    ticket = make_ticket("Printer on floor 3 is jammed")
    # Jira created the issue, its webhook is here, but our push has not stored the key yet.
    fake_jira.add_issue("ITSUP-7", summary=ticket.title, labels=["itsm-sync", f"itsm-{ticket.number}"])
    deliver(echo_of(fake_jira, "ITSUP-7"))
    (outcome,) = process()
    assert outcome.ticket == ticket
    assert JiraLink.objects.get().issue_key == "ITSUP-7"
    assert push_changes(ticket.pk) == ["create_issue: already linked to ITSUP-7"]
    assert creates(fake_jira) == []
    assert Ticket.objects.count() == 1


@pytest.mark.django_db
def test_a_reply_echo_arriving_before_the_push_stored_it_is_adopted(
    fake_jira, make_ticket, agent, deliver, process
):
    ticket = make_ticket("VPN down")
    push_changes(ticket.pk)
    reply = do_add_comment(ticket, actor=agent, body="On my way!")
    echo = copy.deepcopy(fixture("jira-webhook-comment-created.json"))
    echo["issue"]["id"], echo["issue"]["key"] = fake_jira.issues["ITSUP-1"]["id"], "ITSUP-1"
    echo["comment"].update({"id": "77777", "body": "On my way\\!"})
    deliver(echo)
    (outcome,) = process()
    assert outcome.result == "unchanged"
    assert list(Comment.objects.all()) == [reply]
    assert JiraComment.objects.get().comment == reply


@pytest.mark.django_db
def test_a_lost_create_answer_does_not_create_the_issue_twice(fake_jira, make_ticket):
    ticket = make_ticket("VPN down")
    OutboundChange.objects.update(attempts=1, state=ChangeState.SENDING)  # we crashed after sending
    fake_jira.add_issue("ITSUP-9", summary="VPN down", labels=["itsm-sync", f"itsm-{ticket.number}"])
    push_changes(ticket.pk)
    assert creates(fake_jira) == []
    assert Ticket.objects.get(pk=ticket.pk).external_key == "ITSUP-9"


@pytest.mark.django_db
def test_transient_failures_keep_the_change_pending_and_propagate(fake_jira, make_ticket):
    ticket = make_ticket("VPN down")
    fake_jira.fail("POST", "/rest/api/3/issue", 503, times=10, headers={"Retry-After": "5"})
    with pytest.raises(JiraUnavailable) as error:
        push_changes(ticket.pk)
    assert error.value.retry_after == 5.0
    change = OutboundChange.objects.get()
    assert change.state == ChangeState.PENDING and "503" in change.last_error


@pytest.mark.django_db
def test_bad_credentials_keep_the_change_pending(fake_jira, make_ticket, settings):
    settings.JIRA_API_TOKEN = "revoked"
    ticket = make_ticket("VPN down")
    with pytest.raises(JiraAuthError):
        push_changes(ticket.pk)
    assert OutboundChange.objects.get().state == ChangeState.PENDING


@pytest.mark.django_db
def test_tickets_from_jira_are_not_pushed_back(fake_jira, deliver, process, new_jobs):
    deliver(fixture("jira-webhook-issue-created.json"))
    deliver(fixture("jira-webhook-issue-updated.json"))
    deliver(fixture("jira-webhook-comment-created.json"))
    process()
    assert Ticket.objects.count() == 1
    assert OutboundChange.objects.count() == 0
    assert new_jobs(PUSH) == 0


@pytest.mark.django_db
def test_local_replies_on_a_jira_ticket_are_pushed(fake_jira, deliver, process, agent):
    fake_jira.add_issue("ITSUP-42", issue_id="10042")
    deliver(fixture("jira-webhook-issue-created.json"))
    process()
    ticket = Ticket.objects.get()
    do_add_comment(ticket, actor=agent, body="Answer from the desk")
    push_changes(ticket.pk)
    assert len(fake_jira.requests_to("POST", "/rest/api/3/issue/ITSUP-42/comment")) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("switch", ["unconfigured", "push-disabled", "no-project"])
def test_nothing_is_pushed_when_the_integration_is_off(settings, make_ticket, switch):
    if switch != "unconfigured":
        settings.JIRA_BASE_URL, settings.JIRA_EMAIL, settings.JIRA_API_TOKEN = (
            "http://127.0.0.1:9",
            "a@b.c",
            "t",
        )
    if switch == "push-disabled":
        settings.JIRA_PUSH_ENABLED = False
    if switch == "no-project":
        settings.JIRA_PROJECT_KEY = []
    make_ticket("Local only")
    assert OutboundChange.objects.count() == 0
    assert JiraLink.objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_jira_down_then_back_loses_nothing(fake_jira, mappings, make_ticket, agent, run_worker, new_jobs):
    fake_jira.fail("POST", "/rest/api/3/issue", 503, times=1000)
    ticket = make_ticket("Printer on floor 3 is jammed")
    do_add_comment(ticket, actor=agent, body="Waiting for the toner")
    run_worker(queues=["jira"])
    assert creates(fake_jira), "the worker tried"
    assert all(change.state == ChangeState.PENDING for change in OutboundChange.objects.all())
    assert new_jobs(PUSH, status="todo", ticket=ticket) == 1  # retried later, with backoff
    assert Ticket.objects.get(pk=ticket.pk).external_key == ""
    # Jira comes back; the retry comes due.
    fake_jira.failures.clear()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE status = 'todo'")
    run_worker(queues=["jira"])
    assert [change.state for change in OutboundChange.objects.order_by("pk")] == [
        ChangeState.DONE,
        ChangeState.DONE,
    ]
    assert len(fake_jira.issues) == 1
    assert len(fake_jira.requests_to("POST", "/rest/api/3/issue/ITSUP-1/comment")) == 1
    assert Ticket.objects.get(pk=ticket.pk).external_key == "ITSUP-1"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_pushes_after_commit(fake_jira, mappings, make_ticket, run_worker, new_jobs):
    ticket = make_ticket("Printer on floor 3 is jammed")
    run_worker(queues=["jira"])
    assert Ticket.objects.get(pk=ticket.pk).external_key == "ITSUP-1"
    assert new_jobs(PUSH, status="succeeded", ticket=ticket) == 1
