"""Approvals: asking, deciding with a quorum, self-approval, expiry, withdrawal, signals, bells."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import ProgrammingError, transaction
from django.utils import timezone

from itsm.approvals import signals
from itsm.approvals.actions import (
    do_cancel_approval,
    do_decide_approval,
    do_expire_approvals,
    do_request_approval,
)
from itsm.approvals.approvers import resolve_approvers
from itsm.approvals.models import (
    AlreadyDecided,
    ApprovalAlreadyPending,
    ApprovalClosed,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalStatus,
    NotAnApprover,
    SelfApprovalRefused,
)
from itsm.models import AutomationEvent, Notification, Role, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """Every approval_decided sent during the test: (outcome, approval id, target, actor)."""
    received = []

    def listener(sender, approval, target, outcome, actor, **kwargs):
        received.append((outcome, approval.pk, target, actor))

    signals.approval_decided.connect(listener, dispatch_uid="test-approvals-heard")
    yield received
    signals.approval_decided.disconnect(dispatch_uid="test-approvals-heard")


def bells(user, verb=None):
    notifications = Notification.objects.filter(recipient=user)
    return list(notifications.filter(verb=verb) if verb else notifications)


# --- asking ----------------------------------------------------------------------------------
def test_it_asks_each_approver_with_a_bell_in_their_language(ask, ticket, lead, other_agent, agent):
    other_agent.language = "fr"
    other_agent.save()
    requested = []
    signals.approval_requested.connect(
        lambda sender, approval, target, **kw: requested.append((approval.pk, target)),
        dispatch_uid="t-req",
        weak=False,
    )
    try:
        approval = ask([lead, other_agent], summary="Restart payroll on app01")
    finally:
        signals.approval_requested.disconnect(dispatch_uid="t-req")
    assert requested == [(approval.pk, ticket)]
    assert approval.status == ApprovalStatus.PENDING and approval.quorum == 1
    assert approval.target == ticket and approval.requested_by == agent
    [english] = bells(lead, "approval.requested")
    assert english.title == "Approval requested: Restart payroll on app01"
    assert f"Bob Agent asks for your approval of {ticket.number}" in english.body
    assert english.url == f"/approvals/{approval.pk}/"
    [french] = bells(other_agent, "approval.requested")
    assert french.title == "Approbation demandée : Restart payroll on app01"
    assert bells(agent) == []  # the requester is not told about their own request


def test_the_requester_is_left_out_of_the_approvers_and_refused_when_deciding(ask, agent, lead):
    approval = ask([agent, lead])
    assert list(approval.approvers.all()) == [lead]
    with pytest.raises(SelfApprovalRefused) as refused:
        do_decide_approval(approval, actor=agent, approve=True)
    assert refused.value.status_code == 403
    assert "someone else must decide" in refused.value.message
    assert not ApprovalDecision.objects.exists()


def test_the_requester_may_approve_their_own_when_the_request_allows_it(ask, agent, heard):
    approval = ask([agent], allow_self_approval=True)
    do_decide_approval(approval, actor=agent, approve=True)
    assert approval.status == ApprovalStatus.APPROVED
    assert [outcome for outcome, *_ in heard] == ["approved"]


def test_only_the_requester_as_approver_is_refused(ask, agent):
    with pytest.raises(ValidationError) as refused:
        ask([agent])
    assert "approvers" in refused.value.message_dict
    assert not ApprovalRequest.objects.exists()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"quorum": 3}, "quorum"),
        ({"quorum": 0}, "quorum"),
        ({"rejections_needed": 5}, "rejections_needed"),
        ({"summary": "   "}, "summary"),
        ({"summary": "x" * 301}, "summary"),
        ({"expires_at": datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)}, "expires_at"),
    ],
)
def test_bad_requests_change_nothing(ask, lead, other_agent, options, field):
    with pytest.raises(ValidationError) as refused:
        ask([lead, other_agent], **options)
    assert field in refused.value.message_dict
    assert not ApprovalRequest.objects.exists() and not Notification.objects.exists()


def test_an_unsaved_target_is_refused(agent, lead):
    from tickets.models import Ticket

    with pytest.raises(ValidationError):
        do_request_approval(Ticket(title="unsaved"), requested_by=agent, approvers=[lead], summary="x")


def test_one_pending_request_per_target_and_kind(ask, lead):
    ask([lead], kind="runbook-execution")
    with pytest.raises(ApprovalAlreadyPending) as conflict:
        ask([lead], kind="runbook-execution")
    assert conflict.value.status_code == 409
    ask([lead], kind="change")  # another kind of decision on the same target
    assert ApprovalRequest.objects.count() == 2


def test_a_settled_request_lets_the_target_ask_again(ask, lead):
    first = ask([lead])
    do_decide_approval(first, actor=lead, approve=False, comment="Not today")
    second = ask([lead])
    assert second.pk != first.pk and second.is_pending


# --- deciding -------------------------------------------------------------------------------
def test_a_quorum_of_two_needs_two_approvals(ask, lead, other_agent, admin_user, agent, heard):
    approval = ask([lead, other_agent, admin_user], quorum=2)
    do_decide_approval(approval, actor=lead, approve=True, comment="ok")
    assert approval.status == ApprovalStatus.PENDING and approval.approval_count == 1
    assert heard == [] and bells(agent) == []
    do_decide_approval(approval, actor=admin_user, approve=True)
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.APPROVED and approval.approval_count == 2
    assert approval.decided_at is not None
    assert heard == [("approved", approval.pk, approval.target, admin_user)]
    [told] = bells(agent, "approval.approved")
    assert told.title == "Approved: Restart payroll"
    with pytest.raises(ApprovalClosed) as closed:
        do_decide_approval(approval, actor=other_agent, approve=True)
    assert closed.value.status_code == 409 and "already approved" in closed.value.message


def test_a_single_rejection_rejects_by_default(ask, lead, other_agent, agent, heard):
    approval = ask([lead, other_agent], quorum=1)
    do_decide_approval(approval, actor=lead, approve=False, comment="Change freeze this week")
    assert approval.status == ApprovalStatus.REJECTED
    assert heard == [("rejected", approval.pk, approval.target, lead)]
    [told] = bells(agent, "approval.rejected")
    assert told.body == "Change freeze this week"


def test_several_rejections_may_be_needed_when_the_consumer_says_so(ask, lead, other_agent, admin_user):
    approval = ask([lead, other_agent, admin_user], quorum=1, rejections_needed=2)
    do_decide_approval(approval, actor=lead, approve=False, comment="no")
    assert approval.status == ApprovalStatus.PENDING
    do_decide_approval(approval, actor=other_agent, approve=True)
    assert approval.status == ApprovalStatus.APPROVED


def test_a_quorum_out_of_reach_rejects(ask, lead, other_agent, admin_user):
    approval = ask([lead, other_agent, admin_user], quorum=3, rejections_needed=3)
    do_decide_approval(approval, actor=lead, approve=False, comment="no")
    # Two approvals at most remain possible: the quorum of three can no longer be reached.
    assert approval.status == ApprovalStatus.REJECTED


def test_a_rejection_needs_a_comment(ask, lead):
    approval = ask([lead])
    with pytest.raises(ValidationError) as refused:
        do_decide_approval(approval, actor=lead, approve=False, comment="  ")
    assert "comment" in refused.value.message_dict
    assert not ApprovalDecision.objects.exists()
    assert ApprovalRequest.objects.get().status == ApprovalStatus.PENDING


def test_the_same_approver_cannot_decide_twice(ask, lead, other_agent):
    approval = ask([lead, other_agent], quorum=2)
    do_decide_approval(approval, actor=lead, approve=True)
    with pytest.raises(AlreadyDecided) as twice:
        do_decide_approval(approval, actor=lead, approve=False, comment="changed my mind")
    assert twice.value.status_code == 409 and "already decided (approve" in twice.value.message
    assert ApprovalDecision.objects.get().verdict == "approve"
    assert ApprovalRequest.objects.get().approval_count == 1


def test_someone_not_asked_cannot_decide(ask, lead, other_agent):
    approval = ask([lead])
    with pytest.raises(NotAnApprover) as refused:
        do_decide_approval(approval, actor=other_agent, approve=True)
    assert refused.value.status_code == 403


def test_decisions_are_append_only(ask, lead):
    approval = ask([lead])
    decision = do_decide_approval(approval, actor=lead, approve=True, comment="fine")
    with pytest.raises(ProgrammingError), transaction.atomic():
        ApprovalDecision.objects.filter(pk=decision.pk).update(comment="rewritten")
    with pytest.raises(ProgrammingError), transaction.atomic():
        ApprovalDecision.objects.filter(pk=decision.pk).delete()
    assert ApprovalDecision.objects.get().comment == "fine"


# --- expiry ------------------------------------------------------------------------------------
def test_a_lapsed_request_refuses_decisions_and_the_sweep_expires_it_once(ask, lead, agent, heard):
    approval = ask([lead], expires_at=timezone.now() + datetime.timedelta(hours=1))
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2)):
        with pytest.raises(ApprovalClosed) as lapsed:
            do_decide_approval(approval, actor=lead, approve=True)
        assert "expired on" in lapsed.value.message
        assert do_expire_approvals() == 1
        assert do_expire_approvals() == 0  # idempotent
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.EXPIRED
    assert heard == [("expired", approval.pk, approval.target, None)]
    [told] = bells(agent, "approval.expired")
    assert told.title == "Expired without a decision: Restart payroll"
    event = AutomationEvent.objects.get(action="approval.expired")
    assert (event.actor, event.subject_id, event.after) == (
        "system:approvals",
        str(approval.pk),
        {"status": "expired"},
    )


def test_the_sweep_leaves_requests_that_have_not_lapsed(ask, lead):
    ask([lead], expires_at=timezone.now() + datetime.timedelta(hours=3))
    assert do_expire_approvals() == 0
    assert ApprovalRequest.objects.get().status == ApprovalStatus.PENDING


def test_the_default_expiry_comes_from_the_settings(ask, lead, settings):
    settings.APPROVAL_DEFAULT_EXPIRY_HOURS = 5
    approval = ask([lead])
    assert (
        datetime.timedelta(hours=4, minutes=59)
        < approval.expires_at - approval.created_at
        <= datetime.timedelta(hours=5)
    )


# --- withdrawal ----------------------------------------------------------------------------------
def test_the_requester_withdraws_and_waiting_approvers_hear_it(ask, agent, lead, other_agent, heard):
    approval = ask([lead, other_agent], quorum=2)
    do_decide_approval(approval, actor=lead, approve=True)
    do_cancel_approval(approval, actor=agent, reason="Fixed by itself")
    assert approval.status == ApprovalStatus.CANCELLED and approval.closed_by == agent
    assert heard == [("cancelled", approval.pk, approval.target, agent)]
    assert bells(other_agent, "approval.cancelled")[0].body == "Fixed by itself"
    assert bells(lead, "approval.cancelled") == []  # already decided
    with pytest.raises(ApprovalClosed):
        do_cancel_approval(approval, actor=agent)


def test_only_the_requester_or_an_admin_withdraws(ask, lead, other_agent, admin_user):
    approval = ask([lead])
    with pytest.raises(NotAnApprover):
        do_cancel_approval(approval, actor=other_agent)
    do_cancel_approval(approval, actor=admin_user)
    assert approval.status == ApprovalStatus.CANCELLED


def test_a_consumer_withdraws_as_automation(ask, lead):
    approval = ask([lead])
    do_cancel_approval(approval, actor=None, actor_label="system:runbooks", reason="execution cancelled")
    event = AutomationEvent.objects.get(action="approval.cancelled")
    assert event.actor == "system:runbooks" and event.reason == "execution cancelled"


# --- rollback ----------------------------------------------------------------------------------
def test_a_rolled_back_request_notifies_nobody(ask, lead, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        ask([lead])
        raise RuntimeError("the consumer failed after asking")
    assert not ApprovalRequest.objects.exists()
    assert not Notification.objects.exists()
    assert callbacks == []  # no mail job is deferred either


# --- who decides --------------------------------------------------------------------------------
def test_approvers_resolve_from_roles_team_leads_and_team_members(
    db, team, other_team, admin_user, lead, agent, other_agent
):
    cab = Team.objects.create(name="CAB")
    cab.members.add(other_agent, admin_user)
    gone = type(agent).objects.create_user(email="gone@example.com", role=Role.ADMIN, is_active=False)
    assert resolve_approvers(roles=["admin"]) == [admin_user]
    assert gone not in resolve_approvers(roles=["admin"])
    assert resolve_approvers(leads_of=[team, None]) == [lead]
    assert resolve_approvers(leads_of=[other_team]) == []  # no lead
    assert resolve_approvers(members_of=[cab]) == [admin_user, other_agent]
    assert resolve_approvers(users=[agent], leads_of=[team], members_of=[cab.pk]) == [
        admin_user,
        agent,
        other_agent,
        lead,
    ]
    with pytest.raises(ValueError):
        resolve_approvers(roles=["overlord"])
