"""Bell notifications and requester mail for what happens to tickets."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.urls import reverse

from itsm.models import Notification, Role
from tickets.actions import (
    do_add_comment,
    do_assign_ticket,
    do_create_ticket,
    do_reopen_ticket,
    do_transition_ticket,
    do_watch_ticket,
)
from tickets.models import TicketStatus
from tickets.notifications import mentioned_agents


def bell(user, verb: str | None = None) -> list[Notification]:
    notifications = Notification.objects.filter(recipient=user)
    if verb:
        notifications = notifications.filter(verb=verb)
    return list(notifications)


# --- assignment --------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_assignee_hears_about_an_assignment_but_not_the_actor(make_ticket, agent, admin_user):
    ticket = make_ticket("Laptop dead")
    do_assign_ticket(ticket, actor=admin_user, assignee=agent)
    [notification] = bell(agent, "assigned")
    assert ticket.number in notification.title and "assigned to you" in notification.title
    assert notification.url == reverse("tickets:ticket-detail", args=[ticket.pk])
    assert (notification.subject_type, notification.subject_id) == ("ticket", str(ticket.pk))
    assert bell(admin_user) == []


@pytest.mark.django_db
def test_taking_a_ticket_yourself_notifies_nobody(make_ticket, agent):
    ticket = make_ticket("Laptop dead")
    do_assign_ticket(ticket, actor=agent, assignee=agent)
    assert bell(agent) == []


@pytest.mark.django_db
def test_a_team_without_assignee_hears_about_its_new_ticket(make_ticket, agent, team, admin_user, requester):
    teammate = admin_user
    team.members.add(teammate)
    lurker = type(agent).objects.create_user(email="req-in-team@example.com", role=Role.USER)
    team.members.add(lurker)  # not an agent: not notified
    ticket = make_ticket("Share is full", actor=requester, team=team)
    assert [n.verb for n in bell(agent)] == ["assigned_team"]
    assert "Service Desk" in bell(agent)[0].title
    assert [n.verb for n in bell(teammate)] == ["assigned_team"]
    assert bell(lurker) == []
    # then an agent of the team takes it: the team is not notified again, the actor neither
    do_assign_ticket(ticket, actor=agent, assignee=agent)
    assert len(bell(agent)) == 1 and len(bell(teammate)) == 1


@pytest.mark.django_db
def test_moving_a_ticket_to_another_team_notifies_that_team(make_ticket, agent, other_agent, other_team):
    ticket = make_ticket("Switch down")
    do_assign_ticket(ticket, actor=agent, assignee=None, team=other_team)
    [notification] = bell(other_agent)
    assert notification.verb == "assigned_team" and "Network" in notification.title
    assert bell(agent) == []


@pytest.mark.django_db
def test_a_ticket_created_with_an_assignee_notifies_the_assignee(agent, admin_user, requester):
    do_create_ticket(actor=admin_user, title="VPN", requester=requester, assignee=agent)
    assert [n.verb for n in bell(agent)] == ["assigned"]


# --- status ---------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_requester_hears_about_status_changes_of_their_request(make_ticket, agent, requester):
    ticket = make_ticket("Printer")
    do_transition_ticket(ticket, TicketStatus.IN_PROGRESS, actor=agent)
    [notification] = bell(requester, "status_changed")
    assert "in progress" in notification.title
    assert notification.url == reverse("tickets:portal-ticket", args=[ticket.pk])
    assert bell(agent) == []


@pytest.mark.django_db
def test_the_requester_reopening_their_ticket_is_not_told_about_it(make_ticket, requester):
    ticket = make_ticket("Printer")
    do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=None, resolution="done")
    Notification.objects.all().delete()
    do_reopen_ticket(ticket, actor=requester)
    assert bell(requester) == []


# --- conversation --------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_watchers_hear_about_replies_and_agents_about_notes(
    make_ticket, agent, other_agent, admin_user, requester
):
    ticket = make_ticket("Printer")
    do_watch_ticket(ticket, user=other_agent)
    do_watch_ticket(ticket, user=agent)
    do_add_comment(ticket, actor=agent, body="Toner ordered")
    assert [n.verb for n in bell(other_agent)] == ["comment_added"]
    assert [n.verb for n in bell(requester)] == ["replied"]  # once, though a watcher too
    assert bell(agent) == []
    do_add_comment(ticket, actor=admin_user, body="Supplier is slow", internal=True)
    assert [n.verb for n in bell(agent)] == ["note_added"]
    assert [n.verb for n in bell(requester)] == ["replied"]  # never about notes


@pytest.mark.django_db
def test_a_requester_reply_notifies_the_watching_agents(make_ticket, agent, requester):
    ticket = make_ticket("Printer")
    do_watch_ticket(ticket, user=agent)
    do_add_comment(ticket, actor=requester, body="Any news?")
    assert [n.verb for n in bell(agent)] == ["comment_added"]
    assert bell(requester) == []


@pytest.mark.django_db
def test_mentions_by_email_or_full_name_notify_the_agents(
    make_ticket, agent, other_agent, admin_user, requester
):
    ticket = make_ticket("Printer")
    do_add_comment(
        ticket,
        actor=admin_user,
        internal=True,
        body="@bob.agent@example.com and @carol network, please look. cc @Dave Requester",
    )
    [for_bob] = bell(agent, "mentioned")
    assert "Alice Admin mentioned you" in for_bob.title
    assert [n.verb for n in bell(other_agent)] == ["mentioned"]
    assert bell(requester, "mentioned") == []  # not an agent
    assert bell(admin_user) == []


@pytest.mark.django_db
def test_agents_who_cannot_see_a_sensitive_ticket_are_not_told_about_it(
    make_ticket, team, other_agent, admin_user
):
    ticket = make_ticket("HR case", sensitive=True, team=team)
    do_add_comment(ticket, actor=admin_user, internal=True, body="@Carol Network can you check?")
    assert bell(other_agent) == []


@pytest.mark.django_db
def test_it_finds_mentions_without_false_positives(agent, other_agent):
    assert mentioned_agents("mail bob.agent@example.com directly") == []
    assert mentioned_agents("no mention at all") == []
    assert mentioned_agents("@Bob Agent: ping") == [agent]
    assert set(mentioned_agents("@bob.agent@example.com, @CAROL NETWORK.")) == {agent, other_agent}


@pytest.mark.django_db
def test_mail_is_only_queued_after_commit_and_a_rollback_notifies_nobody(
    make_ticket, agent, requester, django_capture_on_commit_callbacks
):
    ticket = make_ticket("Printer")
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        do_add_comment(ticket, actor=agent, body="We are on it")
        raise RuntimeError("the request failed later")
    assert callbacks == []
    assert bell(requester) == []
    with django_capture_on_commit_callbacks() as callbacks:
        do_add_comment(ticket, actor=agent, body="We are on it")
    assert len(callbacks) == 1  # the requester's mail, deferred to the worker
    assert len(bell(requester)) == 1


# --- mail to requesters, sent by the worker ----------------------------------------------------------------------
@pytest.fixture
def worker(run_worker):
    """The notifications worker; afterwards the jobs this test queued are removed.

    Other apps queue their own work on the same signals (SLA, AI, email, …) and a worker
    defers the periodic tasks when it starts; in a transactional test those rows would stay
    in the queue for the next tests to trip over.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
        first_id = cursor.fetchone()[0]
    yield lambda: run_worker(queues=["notifications"])
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_periodic_defers WHERE job_id > %s", [first_id])
        cursor.execute("DELETE FROM procrastinate_jobs WHERE id > %s", [first_id])


@pytest.mark.django_db(transaction=True)
def test_the_worker_mails_the_requester_an_agent_reply_but_not_a_note(make_ticket, agent, requester, worker):
    ticket = make_ticket("Printer jammed")
    do_add_comment(ticket, actor=agent, body="Please switch it off and on.")
    do_add_comment(ticket, actor=agent, body="Between us: it is old.", internal=True)
    assert mail.outbox == []  # nothing is sent inside the request
    worker()
    [message] = mail.outbox
    assert message.to == [requester.email]
    assert message.subject == f"[{ticket.number}] New reply: Printer jammed"
    assert "Bob Agent replied to your ticket" in message.body
    assert "Please switch it off and on." in message.body
    assert "Between us" not in message.body
    assert f"/tickets/portal/{ticket.pk}/" in message.body


@pytest.mark.django_db(transaction=True)
def test_the_worker_mails_the_resolution_in_the_requesters_language(make_ticket, agent, requester, worker):
    requester.language = "fr"
    requester.save()
    ticket = make_ticket("Imprimante")
    with time_machine.travel(datetime.datetime(2025, 3, 3, 10, 0, tzinfo=datetime.UTC)):
        do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="Toner remplacé")
    worker()
    [message] = mail.outbox
    assert message.to == [requester.email]
    assert ticket.number in message.subject
    assert "Toner remplacé" in message.body
    assert "3 mars 2025" in message.body  # dates in French


@pytest.mark.django_db(transaction=True)
def test_an_english_requester_gets_the_english_date(make_ticket, agent, requester, worker):
    ticket = make_ticket("Printer")
    with time_machine.travel(datetime.datetime(2025, 3, 3, 10, 0, tzinfo=datetime.UTC)):
        do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="New toner")
    worker()
    [message] = mail.outbox
    assert "March 3, 2025" in message.body and "New toner" in message.body
    assert message.subject == f"[{ticket.number}] Resolved: Printer"


@pytest.mark.django_db(transaction=True)
def test_requesters_get_no_mail_about_their_own_actions(make_ticket, requester, worker, agent):
    ticket = make_ticket("Printer")
    do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=None, resolution="auto-closed")  # automation
    worker()
    assert len(mail.outbox) == 1  # automation is not the requester: they hear about it
    do_reopen_ticket(ticket, actor=requester)
    do_add_comment(ticket, actor=requester, body="works again, sorry")
    worker()
    assert len(mail.outbox) == 1
