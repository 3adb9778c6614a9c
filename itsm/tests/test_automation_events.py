"""Automation events are written by one method: subject, actor and texts shaped in one place."""

import uuid
from datetime import UTC, datetime

import pytest

from itsm.models import AutomationEvent, Team, WorkerHeartbeat, subject_type_of

pytestmark = pytest.mark.django_db


def test_it_records_an_event_about_an_object(team):
    trace = uuid.uuid4()
    event = AutomationEvent.objects.record(
        actor="system:sla",
        action="sla.retargeted",
        subject=team,
        before={"state": "on_track"},
        after={"state": "at_risk"},
        reason="priority high → critical",
        trace_id=trace,
    )
    stored = AutomationEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.action, stored.subject_type, stored.subject_id) == (
        "system:sla",
        "sla.retargeted",
        "team",
        str(team.pk),
    )
    assert (stored.before, stored.after, stored.reason, stored.trace_id) == (
        {"state": "on_track"},
        {"state": "at_risk"},
        "priority high → critical",
        trace,
    )


def test_it_names_subjects_as_notifications_do():
    assert subject_type_of(Team(name="x")) == "team"
    assert subject_type_of(WorkerHeartbeat()) == "worker_heartbeat"  # as "webhook_delivery", "chat_message"


def test_it_takes_a_type_and_an_id_a_user_as_actor_and_fills_the_defaults(agent):
    event = AutomationEvent.objects.record(actor=agent, action="chat.retry", subject=("chat_message", 42))
    assert (event.actor, event.subject_type, event.subject_id) == (agent.email, "chat_message", "42")
    assert (event.before, event.after, event.reason) == ({}, {}, "")
    other = AutomationEvent.objects.record(actor=agent, action="chat.retry", subject=("chat_message", 42))
    assert event.trace_id != other.trace_id  # a new trace unless one is given


def test_it_cuts_texts_to_what_the_columns_hold():
    event = AutomationEvent.objects.record(
        actor="system:" + "x" * 100,
        action="a" * 100,
        subject=("ticket", "9" * 100),
        reason="r" * 5000,
    )
    event.refresh_from_db()
    assert (len(event.actor), len(event.action), len(event.subject_id), len(event.reason)) == (
        60,
        80,
        64,
        2000,
    )


def test_entries_are_unsaved_rows_for_bulk_create(team):
    at = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    rows = [
        AutomationEvent.entry(actor="system:sla", action="sla.at_risk", subject=("ticket", n), at=at)
        for n in (1, 2)
    ]
    assert all(row.pk is None for row in rows)
    AutomationEvent.objects.bulk_create(rows)
    assert list(AutomationEvent.objects.order_by("subject_id").values_list("subject_id", "created_at")) == [
        ("1", at),
        ("2", at),
    ]
