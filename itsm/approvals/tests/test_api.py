"""GET /api/approvals/, GET /api/approvals/{id}/, POST …/approve/, …/reject/, …/cancel/."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from itsm.approvals.actions import do_decide_approval
from itsm.approvals.models import ApprovalDecision, ApprovalStatus

pytestmark = pytest.mark.django_db


def test_the_list_filters_mine_to_decide_and_asked_by_me(api_for, ask, lead, other_agent, ticket):
    to_decide = ask([lead], summary="Reboot web01")
    asked = ask([other_agent], requested_by=lead, summary="Patch db02", kind="patch")
    api = api_for(lead)
    body = api.get("/api/approvals/", {"scope": "to_decide"}).json()
    assert [row["id"] for row in body["results"]] == [to_decide.pk]
    row = body["results"][0]
    assert row["target"] == {
        "type": "tickets.ticket",
        "id": ticket.pk,
        "label": f"{ticket.number} {ticket.title}",
        "url": f"/tickets/{ticket.pk}/",
    }
    assert row["requested_by"]["email"] == "bob.agent@example.com"
    assert [person["email"] for person in row["approvers"]] == [lead.email]
    assert row["can_decide"] is True and row["status"] == "pending" and row["quorum"] == 1
    assert [r["id"] for r in api.get("/api/approvals/", {"scope": "asked_by_me"}).json()["results"]] == [
        asked.pk
    ]
    assert len(api.get("/api/approvals/").json()["results"]) == 2
    assert [r["id"] for r in api.get("/api/approvals/", {"kind": "patch"}).json()["results"]] == [asked.pk]
    filtered = api.get("/api/approvals/", {"target_type": "tickets.ticket", "target_id": ticket.pk}).json()
    assert len(filtered["results"]) == 2


@pytest.mark.parametrize(
    "params",
    [{"scope": "everything"}, {"status": "maybe"}, {"target_id": "abc"}],
    ids=["scope", "status", "id"],
)
def test_bad_filters_are_refused(api_for, lead, params):
    response = api_for(lead).get("/api/approvals/", params)
    assert response.status_code == 400
    assert list(response.json()) == list(params)


def test_the_list_reads_a_fixed_number_of_queries(
    api_for, ask, lead, other_agent, make_ticket, django_assert_num_queries
):
    api = api_for(lead)
    for n in range(2):
        approval = ask([lead, other_agent], target=make_ticket(f"T{n}"), quorum=2)
        do_decide_approval(approval, actor=other_agent, approve=True)
    api.get("/api/approvals/")  # the token's first use is recorded once
    # token, count, page, targets, decisions, their approvers, approver links, their users
    with django_assert_num_queries(9):  # + the API throttle's counter
        assert api.get("/api/approvals/").json()["count"] == 2
    for n in range(2, 12):
        approval = ask([lead, other_agent], target=make_ticket(f"T{n}"), quorum=2)
        do_decide_approval(approval, actor=other_agent, approve=True)
    with django_assert_num_queries(9):  # + the API throttle's counter
        assert api.get("/api/approvals/").json()["count"] == 12


def test_an_approver_approves_and_the_answer_shows_the_outcome(api_for, ask, lead):
    approval = ask([lead])
    response = api_for(lead).post(f"/api/approvals/{approval.pk}/approve/", {"comment": "ok"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved" and body["can_decide"] is False
    assert body["decisions"][0]["verdict"] == "approve" and body["decisions"][0]["channel"] == "api"
    assert body["decisions"][0]["approver"]["email"] == lead.email


def test_a_rejection_needs_a_comment(api_for, ask, lead):
    approval = ask([lead])
    response = api_for(lead).post(f"/api/approvals/{approval.pk}/reject/", {}, format="json")
    assert response.status_code == 400 and "comment" in response.json()
    assert not ApprovalDecision.objects.exists()
    ok = api_for(lead).post(f"/api/approvals/{approval.pk}/reject/", {"comment": "No"}, format="json")
    assert ok.json()["status"] == "rejected"


def test_deciding_twice_is_a_conflict(api_for, ask, lead, other_agent):
    approval = ask([lead, other_agent], quorum=2)
    api = api_for(lead)
    assert api.post(f"/api/approvals/{approval.pk}/approve/").status_code == 200
    twice = api.post(f"/api/approvals/{approval.pk}/approve/")
    assert twice.status_code == 409 and "already decided" in twice.json()["detail"]


def test_deciding_a_decided_or_expired_request_is_a_conflict(api_for, ask, lead, other_agent, make_ticket):
    decided = ask([lead, other_agent])
    do_decide_approval(decided, actor=other_agent, approve=True)
    closed = api_for(lead).post(f"/api/approvals/{decided.pk}/approve/")
    assert closed.status_code == 409 and "already approved" in closed.json()["detail"]
    lapsing = ask(
        [lead], target=make_ticket("other"), expires_at=timezone.now() + datetime.timedelta(minutes=5)
    )
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10)):
        expired = api_for(lead).post(f"/api/approvals/{lapsing.pk}/approve/")
    assert expired.status_code == 409 and "expired on" in expired.json()["detail"]


def test_ones_own_request_and_strangers_are_refused(api_for, ask, agent, lead, other_agent, requester):
    approval = ask([lead])
    own = api_for(agent).post(f"/api/approvals/{approval.pk}/approve/")
    assert own.status_code == 403 and "someone else must decide" in own.json()["detail"]
    # Not involved: the approval does not exist for them.
    assert api_for(other_agent).post(f"/api/approvals/{approval.pk}/approve/").status_code == 404
    assert api_for(requester).get(f"/api/approvals/{approval.pk}/").status_code == 404
    assert ApprovalDecision.objects.count() == 0


def test_the_requester_withdraws_through_the_api(api_for, ask, agent, lead):
    approval = ask([lead])
    assert api_for(lead).post(f"/api/approvals/{approval.pk}/cancel/").status_code == 403
    response = api_for(agent).post(
        f"/api/approvals/{approval.pk}/cancel/", {"reason": "not needed"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == ApprovalStatus.CANCELLED
    assert response.json()["closed_reason"] == "not needed"


def test_anonymous_callers_are_refused(client, ask, lead):
    approval = ask([lead])
    assert client.get("/api/approvals/").status_code == 401
    assert client.post(f"/api/approvals/{approval.pk}/approve/").status_code == 401
