"""Two decisions at the same instant, in two real transactions on two connections."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from itsm.approvals import signals
from itsm.approvals.actions import do_decide_approval
from itsm.approvals.models import AlreadyDecided, ApprovalDecision, ApprovalRequest, ApprovalStatus

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(target, *args, **kwargs) -> tuple[threading.Thread, dict]:
    """Run ``target`` in a thread with its own database connection; its result or error lands in the dict."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = target(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def decide_and_hold(approval, actor, holding: threading.Event, release: threading.Event) -> None:
    """Decide inside a transaction and keep it open (and the row locked) until released."""
    with transaction.atomic():
        do_decide_approval(approval, actor=actor, approve=True)
        holding.set()
        release.wait(10)


def test_two_approvers_deciding_at_once_settle_the_request_exactly_once(ask, lead, other_agent):
    approval = ask([lead, other_agent], quorum=2)
    settled = []
    lock = threading.Lock()

    def listener(sender, approval, outcome, **kwargs):
        with lock:
            settled.append(outcome)

    signals.approval_decided.connect(listener, dispatch_uid="test-race", weak=False)
    try:
        holding, release = threading.Event(), threading.Event()
        first, first_outcome = in_thread(decide_and_hold, approval, lead, holding, release)
        assert holding.wait(10)
        second, second_outcome = in_thread(do_decide_approval, approval, actor=other_agent, approve=True)
        second.join(0.5)
        # Without the row lock the second would have read one approval and finished by now.
        assert second.is_alive(), "the second decision waits for the first transaction"
        release.set()
        first.join(10)
        second.join(10)
    finally:
        signals.approval_decided.disconnect(dispatch_uid="test-race")
    assert "error" not in first_outcome and "error" not in second_outcome
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.APPROVED and approval.approval_count == 2
    assert settled == ["approved"]


def test_the_same_approver_twice_at_once_records_one_decision(ask, lead, other_agent):
    approval = ask([lead, other_agent], quorum=2)
    holding, release = threading.Event(), threading.Event()
    first, first_outcome = in_thread(decide_and_hold, approval, lead, holding, release)
    assert holding.wait(10)
    second, second_outcome = in_thread(do_decide_approval, approval, actor=lead, approve=True)
    second.join(0.5)
    assert second.is_alive()
    release.set()
    first.join(10)
    second.join(10)
    assert "error" not in first_outcome
    assert isinstance(second_outcome.get("error"), AlreadyDecided)
    assert ApprovalDecision.objects.count() == 1
    assert ApprovalRequest.objects.get().approval_count == 1
