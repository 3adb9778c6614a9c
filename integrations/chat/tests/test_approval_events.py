"""Approvals of runbook executions reach the chat channels that listen to them: asked, then
settled (approved, rejected, withdrawn), each once per channel, posted once; the approvers' bell
and mail and the requester's bell happen beside it."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from cmdb import actions as cmdb_actions
from conftest import make_user
from integrations.chat import actions as chat_actions
from integrations.chat.models import ChannelKind, ChatChannel, ChatMessage, MessageStatus
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from integrations.webhooks.tests import fakes
from integrations.webhooks.tests.fakes import worker_took_jobs
from itsm.approvals import signals as approval_signals
from itsm.approvals.models import ApprovalRequest
from itsm.models import Notification, Role
from runbooks import actions as runbook_actions

EVENTS = ["approval.requested", "approval.decided"]
PLAN_ONLY_VALUE = "do-not-broadcast-42"


@pytest.fixture
def lead(db, team):
    user = make_user("lena.lead@example.com", Role.AGENT, full_name="Lena Lead")
    team.members.add(user)
    team.lead = user
    team.save(update_fields=["lead"])
    return user


@pytest.fixture
def channels(db):
    return (
        ChatChannel.objects.create(
            name="Ops (Teams)",
            kind=ChannelKind.TEAMS_WORKFLOWS,
            webhook_url="https://prod-00.westeurope.logic.azure.com/workflows/1",
            events=EVENTS,
        ),
        ChatChannel.objects.create(
            name="#ops",
            kind=ChannelKind.SLACK,
            webhook_url="https://hooks.slack.com/services/T0/B0/x",
            events=EVENTS,
        ),
        # Listens to tickets only: hears nothing of approvals.
        ChatChannel.objects.create(
            name="#tickets",
            kind=ChannelKind.SLACK,
            webhook_url="https://hooks.slack.com/services/T0/B0/y",
            events=["ticket.critical"],
        ),
    )


@pytest.fixture
def execution(admin_user, team, agent, lead, make_ticket):
    """A runbook execution waiting for the lead's approval (admins are not asked here)."""
    item = cmdb_actions.do_create_item(
        actor=None, name="web01", type="server", environment="prod", owner_team=team
    )
    runbook = runbook_actions.do_create_runbook(
        actor=admin_user,
        name="Restart nginx",
        owner_team=team,
        version={
            "steps": [{"name": "Restart", "type": "manual", "instructions": "Restart {service}"}],
            "parameters": [{"name": "service", "type": "string", "default": PLAN_ONLY_VALUE}],
            "match": {"keywords": ["nginx"]},
        },
        approvers=runbook_actions.check_approvers([], ["ticket_team"], []),
    )
    runbook_actions.do_publish_runbook(runbook, actor=admin_user)
    ticket = make_ticket("nginx stuck on web01", team=team)
    cmdb_actions.do_link_ticket_item(ticket, item, actor=agent)
    return runbook_actions.do_request_execution(ticket, runbook, actor=agent)


def slack_text(event):
    return ChatMessage.objects.get(event=event, channel__name="#ops").body["text"]


def slack_body(event):
    """Everything the Slack message shows (the text, the blocks and their facts)."""
    return json.dumps(ChatMessage.objects.get(event=event, channel__name="#ops").body, ensure_ascii=False)


def test_asking_notifies_each_listening_channel_once(channels, execution, lead):
    approval = ApprovalRequest.objects.get()
    assert sorted(ChatMessage.objects.values_list("channel__name", "event")) == [
        ("#ops", "approval.requested"),
        ("Ops (Teams)", "approval.requested"),
    ]
    text = slack_text("approval.requested")
    assert text.startswith(f"Approval requested: Run “Restart nginx” v1 on {execution.ticket.number}")
    assert f"/approvals/{approval.pk}/" in text
    assert "Lena Lead" in slack_body("approval.requested") and "Bob Agent" in slack_body("approval.requested")
    teams = ChatMessage.objects.get(event="approval.requested", channel__name="Ops (Teams)").body
    assert teams["attachments"][0]["content"]["body"][0]["text"].startswith("Approval requested:")
    # The plan's details (parameters may come from a ticket's text) stay inside.
    assert PLAN_ONLY_VALUE in approval.details
    assert not any(PLAN_ONLY_VALUE in str(message.body) for message in ChatMessage.objects.all())
    # A repeated signal queues nothing twice.
    approval_signals.approval_requested.send(
        sender=ApprovalRequest, approval=approval, target=execution, actor=execution.requested_by
    )
    assert ChatMessage.objects.count() == 2
    # Beside it: the approver's bell (and mail once the worker sends it), nobody else's.
    assert list(
        Notification.objects.filter(verb="approval.requested").values_list("recipient__email", flat=True)
    ) == [lead.email]


def test_approving_notifies_once_with_the_comment(channels, execution, lead, agent):
    runbook_actions.do_decide_execution(execution, actor=lead, approve=True, comment="Go, window is open")
    with pytest.raises(runbook_actions.ExecutionConflict):
        runbook_actions.do_decide_execution(execution, actor=lead, approve=True)
    approval = ApprovalRequest.objects.get()
    approval_signals.approval_decided.send(
        sender=ApprovalRequest, approval=approval, target=execution, outcome="approved", actor=lead
    )
    assert ChatMessage.objects.filter(event="approval.decided").count() == 2
    text = slack_text("approval.decided")
    assert text.startswith(f"Approved: Run “Restart nginx” v1 on {execution.ticket.number}")
    assert "Go, window is open" in text and lead.email in slack_body("approval.decided")
    assert f"/runbooks/executions/{execution.pk}/" in text  # the link opens the execution
    # The requester's bell says so too.
    assert Notification.objects.filter(recipient=agent, verb="approval.approved").count() == 1


def test_rejecting_and_withdrawing_say_so(channels, execution, lead, agent):
    runbook_actions.do_decide_execution(execution, actor=lead, approve=False, comment="Not during the sale")
    assert slack_text("approval.decided").startswith("Rejected: Run “Restart nginx”")
    assert "Not during the sale" in slack_text("approval.decided")
    ChatMessage.objects.all().delete()
    again = runbook_actions.do_request_execution(execution.ticket, execution.runbook, actor=agent)
    runbook_actions.do_cancel_execution(again, actor=agent)
    assert slack_text("approval.decided").startswith("Withdrawn: Run “Restart nginx”")
    assert ChatMessage.objects.filter(event="approval.decided").count() == 2


def test_each_message_is_posted_once(execution, lead, service, fast_chat):
    receiver = service(fakes.SLACK_OK, fakes.SLACK_OK)
    ChatChannel.objects.create(name="#live", kind=ChannelKind.SLACK, webhook_url=receiver.url, events=EVENTS)
    runbook_actions.do_decide_execution(execution, actor=lead, approve=True, comment="ok")
    [message] = ChatMessage.objects.all()
    assert message.event == "approval.decided"
    worker_took_jobs()
    for _ in range(2):  # a retried job posts nothing again
        with time_machine.travel(message.next_attempt_at + timedelta(seconds=1)):
            chat_actions.do_attempt_chat_message(message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and len(receiver.requests) == 1
    assert receiver.requests[0].json()["text"].startswith("Approved: Run “Restart nginx”")


def test_webhook_subscribers_get_the_approval_events_too(db, execution, lead):
    subscription = WebhookSubscription.objects.create(
        name="n8n", url="https://n8n.example.com/hook", events=EVENTS, secret="s" * 32
    )
    runbook_actions.do_decide_execution(execution, actor=lead, approve=True, comment="ok")
    [delivery] = WebhookDelivery.objects.filter(subscription=subscription)
    data = delivery.payload
    assert delivery.event == "approval.decided" and data["outcome"] == "approved"
    assert data["approval"]["kind"] == "runbook-execution"
    assert data["approval"]["target"]["label"].startswith("Restart nginx v1 on")
    assert "details" not in data["approval"]
    assert mail.outbox == []  # mail leaves from the worker, after commit


def mails_sent(callbacks_run):
    """Run the mail jobs the commit deferred (as the worker would) and return the mails."""
    from procrastinate.contrib.django.models import ProcrastinateJob

    from itsm.tasks import send_notification_email

    for job in ProcrastinateJob.objects.filter(task_name__endswith="send_notification_email"):
        send_notification_email(**job.args)
    return list(mail.outbox)


def test_the_requester_gets_the_outcome_by_bell_and_mail(
    execution, lead, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        runbook_actions.do_decide_execution(execution, actor=lead, approve=False, comment="Not today")
    [message] = mails_sent(callbacks)
    assert message.to == [agent.email]
    assert message.subject == f"Rejected: Run “Restart nginx” v1 on {execution.ticket.number}"
    approval = ApprovalRequest.objects.get()
    assert "Not today" in message.body and f"/approvals/{approval.pk}/" in message.body
    assert Notification.objects.filter(recipient=agent, verb="approval.rejected").count() == 1


def test_when_automation_asked_the_ticket_assignee_hears_the_outcome(
    channels, admin_user, team, agent, lead, make_ticket, django_capture_on_commit_callbacks
):
    runbook = runbook_actions.do_create_runbook(
        actor=admin_user,
        name="Clear the queue",
        owner_team=team,
        version={"steps": [{"name": "Clear", "type": "manual"}], "match": {"keywords": ["queue"]}},
        approvers=runbook_actions.check_approvers([], ["ticket_team"], []),
    )
    runbook_actions.do_publish_runbook(runbook, actor=admin_user)
    ticket = make_ticket("Print queue stuck", team=team, assignee=agent)
    execution = runbook_actions.do_request_execution(ticket, runbook, actor=None)  # as auto mode does
    assert "system:runbooks" in slack_body("approval.requested")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        runbook_actions.do_decide_execution(execution, actor=lead, approve=True, comment="fine")
    [bell] = Notification.objects.filter(recipient=agent, verb="runbook_approval_approved")
    assert bell.title == f"Runbook “Clear the queue” on {ticket.number} was approved: it runs now."
    assert bell.body == "fine" and bell.url == f"/runbooks/executions/{execution.pk}/"
    [message] = mails_sent(callbacks)
    assert message.to == [agent.email] and message.subject == bell.title
    assert ChatMessage.objects.filter(event="approval.decided").count() == 2
