"""Auto-close: when a resolved ticket closes on its own, the batch a run takes, and the tickets
that moved between the run choosing them and closing them (skipped, the rest still closed)."""

from __future__ import annotations

import contextlib
import datetime
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from tickets.actions import autoclose, do_transition_ticket
from tickets.actions.autoclose import closes_at, do_auto_close_resolved
from tickets.models import DeskSettings, IllegalTransition, Ticket, TicketStatus

pytestmark = pytest.mark.django_db

NOW = timezone.now()
DAYS = 7


@pytest.fixture(autouse=True)
def seven_days():
    policy = DeskSettings.load()
    policy.auto_close_days = DAYS
    policy.save()
    return policy


@pytest.fixture
def due(make_ticket, team, agent):
    """Three tickets resolved ten, nine and eight days ago (oldest first)."""
    tickets = []
    for age in (10, 9, 8):
        ticket = make_ticket(f"Resolved {age} days ago", team=team)
        do_transition_ticket(ticket, TicketStatus.RESOLVED, actor=agent, resolution="Fixed")
        Ticket.objects.filter(pk=ticket.pk).update(resolved_at=NOW - datetime.timedelta(days=age))
        ticket.refresh_from_db()
        tickets.append(ticket)
    return tickets


def statuses(tickets) -> list[str]:
    return [Ticket.objects.get(pk=ticket.pk).status for ticket in tickets]


def test_a_resolved_ticket_closes_the_set_days_after_its_resolution(due, seven_days):
    ticket = due[0]
    assert closes_at(ticket) == ticket.resolved_at + datetime.timedelta(days=DAYS)
    seven_days.auto_close_days = 0
    assert closes_at(ticket, seven_days) is None  # turned off
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.OPEN)  # reopened: resolved_at kept
    ticket.refresh_from_db()
    assert ticket.resolved_at is not None and closes_at(ticket) is None
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.RESOLVED, resolved_at=None)
    ticket.refresh_from_db()
    assert closes_at(ticket) is None


def test_a_run_closes_a_batch_oldest_first(due, monkeypatch):
    monkeypatch.setattr(autoclose, "BATCH", 2)
    assert do_auto_close_resolved(now=NOW) == 2
    assert statuses(due) == ["closed", "closed", "resolved"]
    assert do_auto_close_resolved(now=NOW) == 1
    assert statuses(due) == ["closed", "closed", "closed"]


def test_the_batch_is_the_one_the_manual_gives():
    manual = (Path(__file__).resolve().parents[2] / "docs" / "agent-productivity.md").read_text()
    assert f"closes at most {autoclose.BATCH} per run" in manual
    assert autoclose.BATCH == 500


def moved_meanwhile(monkeypatch, change) -> None:
    """``change()`` runs when the run takes its first ticket: after it chose its batch."""
    real = transaction.atomic
    calls = []

    @contextlib.contextmanager
    def atomic(*args, **kwargs):
        if not calls:
            change()
        calls.append(1)
        with real(*args, **kwargs):
            yield

    monkeypatch.setattr(autoclose.transaction, "atomic", atomic)


def test_a_ticket_reopened_meanwhile_is_skipped_and_the_rest_closed(due, monkeypatch):
    moved_meanwhile(monkeypatch, lambda: Ticket.objects.filter(pk=due[0].pk).update(status=TicketStatus.OPEN))
    assert do_auto_close_resolved(now=NOW) == 2
    assert statuses(due) == ["open", "closed", "closed"]


def test_a_ticket_resolved_again_meanwhile_waits_its_days_again(due, monkeypatch):
    cutoff = NOW - datetime.timedelta(days=DAYS)  # resolved again exactly at the cut-off: not due yet
    moved_meanwhile(monkeypatch, lambda: Ticket.objects.filter(pk=due[0].pk).update(resolved_at=cutoff))
    assert do_auto_close_resolved(now=NOW) == 2
    assert statuses(due) == ["resolved", "closed", "closed"]


def test_a_ticket_that_cannot_close_is_skipped_and_the_rest_closed(due, monkeypatch):
    real = autoclose.do_transition_ticket

    def transition(ticket, *args, **kwargs):
        if ticket.pk == due[0].pk:
            raise IllegalTransition("resolved", "closed", ())
        return real(ticket, *args, **kwargs)

    monkeypatch.setattr(autoclose, "do_transition_ticket", transition)
    assert do_auto_close_resolved(now=NOW) == 2
    assert statuses(due) == ["resolved", "closed", "closed"]
