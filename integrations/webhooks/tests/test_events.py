"""Domain signals become webhook deliveries, in the transaction of the change."""

import logging
from datetime import UTC, datetime

import pytest
from django.db import transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.webhooks import events
from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from problems.models import Problem
from problems.signals import problem_detected
from sla.signals import sla_at_risk, sla_breached
from tickets import signals as ticket_signals
from tickets.actions import do_add_comment, do_change_priority, do_edit_comment, do_update_ticket

ALL_EVENTS = [str(event) for event in events.Event]


@pytest.fixture
def subscription(db):
    return WebhookSubscription.objects.create(name="n8n", url="http://127.0.0.1:9/hook", events=ALL_EVENTS)


def delivered(event: str) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(event=event).order_by("id"))


def test_it_queues_ticket_created_with_the_ticket_and_a_job(subscription, make_ticket, agent):
    ticket = make_ticket("VPN down on floor 3", actor=agent, impact="medium", urgency="medium")
    (delivery,) = delivered("ticket.created")
    assert delivery.subscription == subscription
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.payload["ticket"]["number"] == ticket.number
    assert delivery.payload["ticket"]["requester"]["email"] == ticket.requester.email
    assert delivery.payload["actor"] == agent.email
    assert delivered("ticket.critical") == []
    job = ProcrastinateJob.objects.get(
        task_name="integrations.webhooks.tasks.deliver_webhook", args={"delivery_id": delivery.pk}
    )
    assert job.status == "todo"
    assert job.queueing_lock == f"webhook-delivery-{delivery.pk}"


def test_it_sends_ticket_critical_when_a_ticket_is_created_critical(subscription, make_ticket):
    ticket = make_ticket("Datacentre power loss", impact="high", urgency="high")
    (critical,) = delivered("ticket.critical")
    assert critical.payload["ticket"]["priority"] == "critical"
    assert critical.payload["previous_priority"] is None
    # One change, one trace: created and critical share the trace id.
    assert critical.trace_id == delivered("ticket.created")[0].trace_id
    assert ticket.priority == "critical"


def test_it_sends_ticket_critical_once_when_the_priority_becomes_critical(subscription, make_ticket, agent):
    ticket = make_ticket("Mail slow", impact="medium", urgency="medium")
    do_change_priority(ticket, actor=agent, priority="critical", reason="CEO affected")
    do_update_ticket(ticket, actor=agent, fields={"title": "Mail very slow"})  # still critical: no new event
    (critical,) = delivered("ticket.critical")
    assert critical.payload["previous_priority"] == "medium"
    updated = delivered("ticket.updated")
    assert [d.payload["changed"] for d in updated] == [["priority"], ["title"]]


def test_it_sends_nothing_to_inactive_or_unsubscribed_receivers(db, make_ticket):
    WebhookSubscription.objects.create(
        name="off", url="http://127.0.0.1:9/a", events=ALL_EVENTS, active=False
    )
    WebhookSubscription.objects.create(name="sla only", url="http://127.0.0.1:9/b", events=["sla.breached"])
    make_ticket("Printer jam", impact="high", urgency="high")
    assert WebhookDelivery.objects.count() == 0


def test_it_leaves_the_description_of_sensitive_tickets_out(subscription, make_ticket):
    make_ticket("HR case", description="salary details", sensitive=True)
    assert delivered("ticket.created")[0].payload["ticket"]["description"] == ""


def test_it_queues_comment_events_once_each_with_the_comment(subscription, make_ticket, agent):
    ticket = make_ticket("Mail slow")
    reply = do_add_comment(ticket, actor=agent, body="Looking at the relay")
    do_add_comment(ticket, actor=agent, body="Relay queue at 40k", internal=True)
    added = delivered("comment.added")
    assert [(d.payload["comment"]["body"], d.payload["comment"]["internal"]) for d in added] == [
        ("Looking at the relay", False),
        ("Relay queue at 40k", True),
    ]
    assert added[0].payload["comment"]["author"] == agent.email and added[0].payload["actor"] == agent.email
    assert added[0].payload["ticket"]["number"] == ticket.number
    do_edit_comment(reply, actor=agent, body="Looking at the relay and the spam filter")
    do_edit_comment(
        reply, actor=agent, body="Looking at the relay and the spam filter"
    )  # no change: no event
    (edited,) = delivered("comment.edited")
    assert edited.payload["comment"]["body"] == "Looking at the relay and the spam filter"
    assert edited.payload["comment"]["edited"] is True
    # The same signal delivered again (a retried job, say) queues nothing twice.
    ticket_signals.comment_added.send(sender=type(ticket), ticket=ticket, actor=agent, comment=reply)
    assert len(delivered("comment.added")) == 2


def test_it_leaves_the_text_of_comments_on_sensitive_tickets_out(subscription, make_ticket, agent, team):
    ticket = make_ticket("HR case", sensitive=True, team=team)
    do_add_comment(ticket, actor=agent, body="salary details", internal=True)
    (added,) = delivered("comment.added")
    assert added.payload["comment"]["body"] == "" and added.payload["comment"]["internal"] is True


def test_it_queues_sla_events_once_per_clock_and_due_time(subscription, make_ticket):
    ticket = make_ticket("Laptop broken")
    due = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
    for _ in range(2):  # a sweep run twice signals twice
        sla_at_risk.send(sender=None, ticket=ticket, clock=None, metric="response", due_at=due, trace_id="")
    sla_breached.send(
        sender=None,
        ticket=ticket,
        clock=None,
        metric="resolution",
        due_at=due,
        trace_id="8d5c2d4a-7b61-4c8e-9d0a-1f2e3d4c5b6a",
    )
    (at_risk,) = delivered("sla.at_risk")
    assert at_risk.payload["sla"] == {
        "metric": "response",
        "state": "at_risk",
        "due_at": "2025-03-14T12:00:00Z",
        "clock_id": None,
    }
    sla_breached.send(
        sender=None, ticket=ticket, clock=None, metric="response", due_at=due, trace_id="sweep-42"
    )
    breached, with_odd_trace = delivered("sla.breached")
    assert str(breached.trace_id) == "8d5c2d4a-7b61-4c8e-9d0a-1f2e3d4c5b6a"
    assert with_odd_trace.trace_id is not None  # not a UUID: a fresh one, the delivery is not lost
    assert breached.payload["ticket"]["id"] == ticket.pk


def test_it_queues_problem_detected_with_its_incidents(subscription, make_ticket):
    incidents = [make_ticket(f"Wi-Fi drops {n}") for n in range(3)]
    problem = Problem.objects.create(title="Recurring: Wi-Fi drops")
    problem_detected.send(sender=Problem, problem=problem, incidents=incidents, trace_id="")
    problem_detected.send(sender=Problem, problem=problem, incidents=incidents, trace_id="")
    (delivery,) = delivered("problem.detected")
    assert delivery.payload["problem"]["number"] == problem.number
    assert delivery.payload["problem"]["incident_count"] == 3
    assert [item["number"] for item in delivery.payload["incidents"]] == [t.number for t in incidents]


def test_it_queues_nothing_when_the_change_is_rolled_back(subscription, make_ticket):
    jobs_before = ProcrastinateJob.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        make_ticket("Rolled back", impact="high", urgency="high")
        assert WebhookDelivery.objects.count() == 2
        raise RuntimeError("the user's transaction fails later")
    assert WebhookDelivery.objects.count() == 0
    assert ProcrastinateJob.objects.count() == jobs_before


def test_a_failing_listener_never_fails_the_ticket_change(subscription, make_ticket, monkeypatch, caplog):
    def broken(ticket):
        raise RuntimeError("payload builder exploded")

    monkeypatch.setattr(events, "ticket_data", broken)
    with caplog.at_level(logging.ERROR):
        ticket = make_ticket("Still created", impact="high", urgency="high")
    assert ticket.pk is not None
    assert WebhookDelivery.objects.count() == 0
    assert "payload builder exploded" in caplog.text
