"""Critical tickets, SLA at-risk and breach, and problem detection reach the configured channels;
a failing channel never blocks or fails the ticket change."""

from datetime import UTC, datetime

import pytest
from django.utils import translation

from integrations.chat import actions as chat_actions
from integrations.chat.models import ChannelKind, ChatChannel, ChatMessage, MessageStatus
from integrations.webhooks.tests import fakes
from problems.models import Problem
from problems.signals import problem_detected
from sla.signals import sla_at_risk, sla_breached
from tickets.actions import do_change_priority
from tickets.models import Ticket


@pytest.fixture
def channels(db):
    return (
        ChatChannel.objects.create(
            name="Ops (Teams)",
            kind=ChannelKind.TEAMS_WORKFLOWS,
            webhook_url="https://prod-00.westeurope.logic.azure.com/workflows/1",
        ),
        ChatChannel.objects.create(
            name="#ops", kind=ChannelKind.SLACK, webhook_url="https://hooks.slack.com/services/T0/B0/x"
        ),
    )


def test_a_critical_ticket_notifies_every_subscribed_channel(channels, make_ticket):
    teams_channel, slack_channel = channels
    ticket = make_ticket("Payments API down", impact="high", urgency="high")
    teams_message = ChatMessage.objects.get(channel=teams_channel)
    slack_message = ChatMessage.objects.get(channel=slack_channel)
    assert teams_message.event == slack_message.event == "ticket.critical"
    assert (
        teams_message.body["attachments"][0]["content"]["body"][0]["text"]
        == f"Critical ticket {ticket.number}"
    )
    assert slack_message.body["text"].startswith(f"Critical ticket {ticket.number}")
    assert teams_message.trace_id == slack_message.trace_id


def test_ordinary_tickets_and_edits_notify_nobody_by_default(channels, make_ticket, agent):
    ticket = make_ticket("Mouse broken")
    do_change_priority(ticket, actor=agent, priority="high", reason="VIP")
    assert not ChatMessage.objects.exists()
    do_change_priority(ticket, actor=agent, priority="critical", reason="Outage")
    assert ChatMessage.objects.filter(event="ticket.critical").count() == 2


def test_a_channel_reads_the_desks_language_whoever_acted(channels, make_ticket, settings):
    teams_channel, _slack = channels

    def headline(ticket: Ticket) -> str:
        message = ChatMessage.objects.get(
            channel=teams_channel, event="ticket.critical", body__icontains=ticket.number
        )
        return message.body["attachments"][0]["content"]["body"][0]["text"]

    with translation.override("fr"):  # a French agent's request
        ticket = make_ticket("Payments API down", impact="high", urgency="high")
        assert translation.get_language() == "fr"  # and the request's language is left as it was
    assert headline(ticket) == f"Critical ticket {ticket.number}"
    settings.LANGUAGE_CODE = "fr"  # a French desk
    other = make_ticket("Card terminals down", impact="high", urgency="high")
    assert headline(other) == f"Ticket critique {other.number}"


def test_sla_and_problem_events_notify_once(channels, make_ticket):
    ticket = make_ticket("Laptop broken")
    due = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
    for _ in range(2):
        sla_at_risk.send(sender=None, ticket=ticket, clock=None, metric="response", due_at=due, trace_id="")
        sla_breached.send(
            sender=None, ticket=ticket, clock=None, metric="resolution", due_at=due, trace_id=""
        )
    problem = Problem.objects.create(title="Recurring: laptops")
    problem_detected.send(sender=Problem, problem=problem, incidents=[ticket], trace_id="")
    events = sorted(ChatMessage.objects.values_list("event", flat=True))
    assert events == ["problem.detected"] * 2 + ["sla.at_risk"] * 2 + ["sla.breached"] * 2
    breached = ChatMessage.objects.get(event="sla.breached", channel__kind="slack")
    assert breached.body["text"].startswith(f"{ticket.number} breached its resolution SLA")


def test_inactive_or_unsubscribed_channels_hear_nothing(db, make_ticket):
    ChatChannel.objects.create(
        name="off", kind="slack", webhook_url="https://hooks.slack.com/x", active=False
    )
    ChatChannel.objects.create(
        name="problems only",
        kind="slack",
        webhook_url="https://hooks.slack.com/y",
        events=["problem.detected"],
    )
    make_ticket("Outage", impact="high", urgency="high")
    assert not ChatMessage.objects.exists()


def test_a_channel_that_explodes_while_queueing_does_not_fail_the_ticket(channels, make_ticket, monkeypatch):
    def explode(kind, notice):
        raise RuntimeError("card renderer exploded")

    monkeypatch.setattr(chat_actions, "render", explode)
    ticket = make_ticket("Outage", impact="high", urgency="high")
    assert Ticket.objects.filter(pk=ticket.pk).exists()
    assert not ChatMessage.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_failing_channel_never_blocks_do_create_ticket(
    clean_queue, settings, service, make_ticket, run_worker
):
    settings.CHAT_TIMEOUT_SECONDS = 2  # a local fake answers well within it, even on a loaded machine
    settings.CHAT_BACKOFF_BASE_SECONDS = 60
    down = service(fakes.SLACK_ROLLUP_ERROR)
    archived = service(fakes.SLACK_ARCHIVED)
    ChatChannel.objects.create(name="down", kind="slack", webhook_url=down.url)
    ChatChannel.objects.create(name="archived", kind="slack", webhook_url=archived.url)
    ChatChannel.objects.create(name="gone", kind="teams_workflows", webhook_url=fakes.closed_port_url())

    ticket = make_ticket("Outage during chat outage", impact="high", urgency="high")
    assert Ticket.objects.get(pk=ticket.pk).priority == "critical"  # committed, whatever the channels do
    run_worker(queues=["chat"])

    statuses = dict(ChatMessage.objects.values_list("channel__name", "status"))
    assert statuses == {
        "down": MessageStatus.RETRYING,
        "archived": MessageStatus.FAILED,
        "gone": MessageStatus.RETRYING,
    }
    assert len(down.requests) == len(archived.requests) == 1
