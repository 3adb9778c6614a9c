"""Change requests: lifecycle, risk, approvals through the core, conflicts, calendar, roles."""

from datetime import timedelta

import pytest
from django.urls import reverse

from changes import actions
from changes.models import ChangeRequest, ChangeStatus, risk_of
from changes.tests.conftest import at
from cmdb import actions as cmdb_actions
from itsm.approvals.models import ApprovalRequest
from itsm.models import AutomationEvent
from problems import actions as problem_actions

pytestmark = pytest.mark.django_db


def move(change, *statuses, actor):
    for status in statuses:
        change = actions.do_transition_change(change, status, actor=actor)
    return change


def test_risk_is_likelihood_times_impact():
    assert risk_of("high", "high") == "high"
    assert risk_of("low", "high") == "medium"
    assert risk_of("medium", "medium") == "medium"
    assert risk_of("low", "low") == "low"


def test_the_api_creates_a_change_with_a_number_and_its_risk(agent, api_for, item, team):
    response = api_for(agent).post(
        "/api/changes/",
        {
            "title": "Patch db-01",
            "type": "normal",
            "likelihood": "high",
            "impact": "medium",
            "planned_start": at(2, 9).isoformat(),
            "planned_end": at(2, 10).isoformat(),
            "affected_items": ["DB-01"],
            "services": ["payroll"],
            "team": team.name,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"].startswith("CHG-") and body["risk"] == "high" and body["status"] == "draft"
    assert body["affected_items"] == ["db-01"] and body["allowed_transitions"] == ["assess", "cancelled"]
    change = ChangeRequest.objects.get()
    assert change.audit_events.get().pgh_context["actor"] == agent.email
    assert AutomationEvent.objects.filter(action="change.created", subject_id=str(change.pk)).exists()


def test_bad_input_is_refused_and_nothing_is_created(agent, api_for):
    client = api_for(agent)
    for payload in (
        {"title": ""},
        {"title": "x", "type": "urgent"},
        {"title": "x", "likelihood": "extreme"},
        {"title": "x", "planned_start": at(2, 10).isoformat(), "planned_end": at(2, 9).isoformat()},
        {"title": "x", "affected_items": ["no-such-item"]},
        {"title": "x", "problems": ["PRB-999999"]},
        {"title": "x", "assignee": "nobody@example.com"},
        {"title": "x", "planned_start": "tomorrow"},
    ):
        assert client.post("/api/changes/", payload, format="json").status_code == 400, payload
    assert not ChangeRequest.objects.exists()


def test_an_illegal_move_is_a_409_listing_the_allowed_ones(make_change, agent, api_for):
    change = make_change()
    response = api_for(agent).post(
        f"/api/changes/{change.pk}/transition/", {"status": "implement"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["allowed"] == ["assess", "cancelled"]
    assert (
        api_for(agent)
        .post(f"/api/changes/{change.pk}/transition/", {"status": "bogus"}, format="json")
        .status_code
        == 400
    )
    change.refresh_from_db()
    assert change.status == ChangeStatus.DRAFT


def test_a_low_risk_normal_change_is_authorised_by_the_team_lead(make_change, agent, lead, api_for):
    change = move(make_change(), "assess", "authorize", actor=agent)
    approval = ApprovalRequest.objects.for_target(change).get()
    assert approval.approver_ids() == {lead.pk} and approval.quorum == 1
    # the requester cannot decide; scheduling before the approval is refused
    assert api_for(agent).post(f"/api/changes/{change.pk}/approve/", {}, format="json").status_code == 403
    assert (
        api_for(agent)
        .post(f"/api/changes/{change.pk}/transition/", {"status": "scheduled"}, format="json")
        .status_code
        == 409
    )
    response = api_for(lead).post(f"/api/changes/{change.pk}/approve/", {"comment": "Go"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "scheduled"
    again = api_for(lead).post(f"/api/changes/{change.pk}/approve/", {}, format="json")
    assert again.status_code == 409  # waits for no approval any more; nothing changes twice
    statuses = list(
        AutomationEvent.objects.filter(action="change.transitioned", subject_id=str(change.pk))
        .order_by("id")
        .values_list("after__status", flat=True)
    )
    assert statuses == ["assess", "authorize", "scheduled"]


def test_a_high_risk_change_needs_the_board_quorum_and_a_rejection_returns_it_to_assess(
    make_change, agent, board, api_for
):
    change = move(make_change(likelihood="high", impact="high"), "assess", "authorize", actor=agent)
    approval = ApprovalRequest.objects.for_target(change).get()
    assert approval.approver_ids() == {user.pk for user in board} and approval.quorum == 2
    api_for(board[0]).post(f"/api/changes/{change.pk}/approve/", {}, format="json")
    change.refresh_from_db()
    assert change.status == ChangeStatus.AUTHORIZE
    assert api_for(board[1]).post(f"/api/changes/{change.pk}/reject/", {}, format="json").status_code == 400
    response = api_for(board[1]).post(
        f"/api/changes/{change.pk}/reject/", {"comment": "No backup"}, format="json"
    )
    assert response.status_code == 200
    change.refresh_from_db()
    approval.refresh_from_db()
    # one voice of the board rejects (the approvals default): back to assess
    assert change.status == ChangeStatus.ASSESS and approval.status == "rejected"
    assert api_for(board[2]).post(f"/api/changes/{change.pk}/approve/", {}, format="json").status_code == 409


def test_an_emergency_change_needs_one_approver_and_a_standard_one_none(make_change, agent, lead, api_for):
    emergency = move(
        make_change(type="emergency", likelihood="high", impact="high"), "assess", "authorize", actor=agent
    )
    assert ApprovalRequest.objects.for_target(emergency).get().approver_ids() == {lead.pk}
    standard = move(
        make_change("Rotate logs", type="standard", planned_start=at(3, 1), planned_end=at(3, 2)),
        "assess",
        "authorize",
        actor=agent,
    )
    assert standard.status == ChangeStatus.SCHEDULED
    assert not ApprovalRequest.objects.for_target(standard).exists()


def test_withdrawing_a_change_cancels_its_pending_approval(make_change, agent, lead):
    change = move(make_change(), "assess", "authorize", "assess", actor=agent)
    assert ApprovalRequest.objects.for_target(change).get().status == "cancelled"
    assert change.status == ChangeStatus.ASSESS


def test_authorisation_needs_a_window_and_plans(make_change, agent, lead):
    change = move(make_change(implementation_plan="", backout_plan=""), "assess", actor=agent)
    with pytest.raises(Exception) as error:
        actions.do_transition_change(change, "authorize", actor=agent)
    assert "implementation_plan" in error.value.message_dict
    change.refresh_from_db()
    assert change.status == ChangeStatus.ASSESS


def test_overlapping_changes_on_one_item_conflict_on_both_and_block_authorisation(
    make_change, agent, lead, item, api_for
):
    first = make_change("Patch db-01", affected_items=[item])
    second = make_change(
        "Resize db-01", affected_items=[item], planned_start=at(1, 11), planned_end=at(1, 13)
    )
    elsewhere = make_change(
        "Patch db-01 later", affected_items=[item], planned_start=at(1, 12), planned_end=at(1, 13)
    )
    move(first, "assess", actor=agent)
    move(second, "assess", actor=agent)
    move(elsewhere, "assess", actor=agent)
    client = api_for(agent)
    mine = client.get(f"/api/changes/{first.pk}/conflicts/").json()
    assert [c["change"] for c in mine] == [second.number]  # "later" starts as the first ends
    theirs = client.get(f"/api/changes/{second.pk}/conflicts/").json()
    assert sorted(c["change"] for c in theirs) == sorted([first.number, elsewhere.number])
    refused = client.post(f"/api/changes/{first.pk}/transition/", {"status": "authorize"}, format="json")
    assert refused.status_code == 409 and second.number in refused.json()["detail"]
    assert (
        client.post(f"/api/changes/{first.pk}/accept-conflicts/", {"reason": ""}, format="json").status_code
        == 400
    )
    accepted = client.post(
        f"/api/changes/{first.pk}/accept-conflicts/",
        {"reason": "Same engineer, done in sequence"},
        format="json",
    )
    assert accepted.status_code == 200
    assert client.get(f"/api/changes/{first.pk}/conflicts/").json()[0]["accepted"] is True
    ok = client.post(f"/api/changes/{first.pk}/transition/", {"status": "authorize"}, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "authorize"


def test_a_change_outside_the_items_maintenance_window_conflicts(make_change, agent, lead):
    day = at(1, 10).strftime("%a").lower()[:3]
    item = cmdb_actions.do_create_item(
        actor=None,
        name="web-01",
        type="server",
        maintenance_windows=[{"day": day, "start": "02:00", "end": "04:00"}],
    )
    inside = make_change("Inside", affected_items=[item], planned_start=at(1, 2), planned_end=at(1, 3))
    outside = make_change("Outside", affected_items=[item])
    from changes.conflicts import conflicts_of

    assert conflicts_of(inside) == []
    assert [c.kind for c in conflicts_of(outside)] == ["maintenance_window"]


def test_closing_a_change_resolves_the_problems_whose_fix_is_recorded(make_change, agent, lead, api_for):
    fixed = problem_actions.do_create_problem(actor=agent, title="Disk fills")
    problem_actions.do_update_problem(fixed, actor=agent, fix="Rotate logs daily", status="investigating")
    unfixed = problem_actions.do_create_problem(actor=agent, title="Slow login")
    change = make_change("Rotate logs", type="standard", problems=[fixed, unfixed])
    move(change, "assess", "authorize", "implement", "review", actor=agent)
    client = api_for(agent)
    assert (
        client.post(f"/api/changes/{change.pk}/transition/", {"status": "closed"}, format="json").status_code
        == 400
    )
    response = client.post(
        f"/api/changes/{change.pk}/transition/",
        {"status": "closed", "outcome": "successful", "resolve_problems": True},
        format="json",
    )
    assert response.status_code == 200 and response.json()["outcome"] == "successful"
    fixed.refresh_from_db()
    unfixed.refresh_from_db()
    assert fixed.status == "resolved" and unfixed.status == "new"


def test_only_a_draft_is_deleted(make_change, agent, api_for):
    draft, assessed = make_change(), make_change("Other")
    move(assessed, "assess", actor=agent)
    client = api_for(agent)
    assert client.delete(f"/api/changes/{assessed.pk}/").status_code == 409
    assert client.delete(f"/api/changes/{draft.pk}/").status_code == 204
    assert list(ChangeRequest.objects.values_list("pk", flat=True)) == [assessed.pk]


def test_edits_after_assessment_are_refused(make_change, agent, lead, api_for):
    change = move(make_change(), "assess", "authorize", actor=agent)
    response = api_for(agent).patch(f"/api/changes/{change.pk}/", {"title": "Other"}, format="json")
    assert response.status_code == 409
    change.refresh_from_db()
    assert change.title == "Upgrade the database"


def test_roles(make_change, agent, viewer, requester, api_for, client):
    change = make_change()
    assert api_for(viewer).get(f"/api/changes/{change.pk}/").status_code == 200
    assert api_for(viewer).post("/api/changes/", {"title": "x"}, format="json").status_code == 403
    assert api_for(requester).get("/api/changes/").status_code == 403
    client.force_login(requester)
    assert client.get(reverse("changes:change-list")).status_code == 404
    assert client.get(reverse("changes:change-detail", args=[change.pk])).status_code == 404
    assert client.get(reverse("changes:change-calendar")).status_code == 404
    client.force_login(viewer)
    assert (
        client.post(reverse("changes:change-transition", args=[change.pk]), {"status": "assess"}).status_code
        == 403
    )


def test_the_calendar_api_lists_planned_changes_with_their_conflicts(make_change, agent, item, api_for):
    first = move(make_change("A", affected_items=[item]), "assess", actor=agent)
    second = move(
        make_change("B", affected_items=[item], planned_start=at(1, 11), planned_end=at(1, 14)),
        "assess",
        actor=agent,
    )
    make_change("Draft, not shown", affected_items=[item])
    client = api_for(agent)
    start, end = at(0, 0), at(7, 0)
    response = client.get("/api/changes/calendar/", {"from": start.isoformat(), "to": end.isoformat()})
    assert response.status_code == 200, response.json()
    assert [entry["number"] for entry in response.json()] == [first.number, second.number]
    assert all(entry["conflicts"] for entry in response.json())
    assert client.get("/api/changes/calendar/").status_code == 400
    assert (
        client.get(
            "/api/changes/calendar/",
            {"from": start.isoformat(), "to": (start + timedelta(days=90)).isoformat()},
        ).status_code
        == 400
    )
    assert (
        client.get("/api/changes/calendar/", {"from": "2026-01-01T00:00", "to": end.isoformat()}).status_code
        == 400
    )


def test_the_calendar_page_shows_a_week_and_a_month_in_bounded_queries(
    make_change, agent, item, client, django_assert_max_num_queries
):
    for index in range(3):
        move(
            make_change(
                f"Change {index}",
                affected_items=[item],
                planned_start=at(1, 9 + index),
                planned_end=at(1, 11 + index),
            ),
            "assess",
            actor=agent,
        )
    client.force_login(agent)
    url = reverse("changes:change-calendar")
    client.get(url)
    with django_assert_max_num_queries(8):
        page = client.get(url, {"date": at(1, 0).date().isoformat()})
    assert page.status_code == 200
    text = page.content.decode()
    assert text.count('class="calendar-change') == 3 and "3 changes in conflict" in text
    assert client.get(url, {"view": "month", "date": at(1, 0).date().isoformat()}).status_code == 200
    assert client.get(url, {"date": "not-a-date"}).status_code == 400


def test_the_pages_create_edit_move_and_accept_conflicts(agent, lead, item, client, team):
    client.force_login(agent)
    response = client.post(
        reverse("changes:change-create"),
        {
            "type": "normal",
            "title": "Patch db-01",
            "likelihood": "low",
            "impact": "low",
            "planned_start": at(1, 10).strftime("%Y-%m-%dT%H:%M"),
            "planned_end": at(1, 12).strftime("%Y-%m-%dT%H:%M"),
            "affected_items": "db-01",
            "implementation_plan": "Patch",
            "backout_plan": "Revert",
            "team": team.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    change = ChangeRequest.objects.get()
    assert list(change.affected_items.all()) == [item] and change.planned_start == at(1, 10)
    assert client.post(reverse("changes:change-create"), {"title": ""}).status_code == 400
    detail = reverse("changes:change-detail", args=[change.pk])
    client.post(reverse("changes:change-transition", args=[change.pk]), {"status": "assess"})
    client.post(reverse("changes:change-transition", args=[change.pk]), {"status": "authorize"})
    change.refresh_from_db()
    assert change.status == ChangeStatus.AUTHORIZE
    client.force_login(lead)
    page = client.get(detail).content.decode()
    assert "Approve" in page and "Patch db-01" in page


def test_incidents_on_its_items_during_the_window_are_suggested_as_caused(
    make_change, agent, lead, item, make_ticket, client, team
):
    from cmdb.models import TicketItem
    from tickets.models import Ticket

    change = move(make_change(type="standard", affected_items=[item]), "assess", "authorize", actor=agent)
    during, before, elsewhere = (
        make_ticket("db-01 slow"),
        make_ticket("db-01 slow too"),
        make_ticket("Printer"),
    )
    for ticket in (during, before):
        TicketItem.objects.create(ticket=ticket, item=item)
    Ticket.objects.filter(pk__in=[during.pk, elsewhere.pk]).update(created_at=at(1, 11))
    Ticket.objects.filter(pk=before.pk).update(created_at=at(1, 9))
    assert list(change.incidents_during(agent)) == [during]
    client.force_login(agent)
    page = client.get(reverse("changes:change-detail", args=[change.pk])).content.decode()
    assert during.number in page and before.number not in page


def test_the_kpis_count_closed_changes_their_success_and_the_emergency_share(make_change, agent, lead, team):
    from datetime import datetime

    from django.utils import timezone

    from itsm import kpis

    outcomes = [("standard", "successful"), ("standard", "failed"), ("emergency", "successful")]
    for index, (change_type, outcome) in enumerate(outcomes):
        change = make_change(f"Change {index}", type=change_type)
        move(change, "assess", "authorize", actor=agent)
        if change_type == "emergency":
            actions.do_decide_change(change, actor=lead, approve=True)
        move(change, "implement", "review", actor=agent)
        actions.do_transition_change(change, "closed", actor=agent, outcome=outcome)
    make_change("Still a draft")
    now = timezone.now()
    start = datetime(now.year, now.month, now.day, tzinfo=timezone.get_current_timezone())
    names = ["changes_closed", "change_success_rate", "emergency_change_share"]
    result = kpis.compute(names, start - timedelta(days=1), now + timedelta(minutes=1), user=None)
    assert result.value("changes_closed") == 3
    assert result.value("change_success_rate") == pytest.approx(2 / 3)
    assert result.value("emergency_change_share") == pytest.approx(1 / 3)
    by_team = kpis.compute(names, start - timedelta(days=1), now + timedelta(minutes=1), "team", user=None)
    assert [
        (row.label, row.values["changes_closed"]) for row in by_team.rows if row.values["changes_closed"]
    ] == [(team.name, 3)]
    before = kpis.compute(names, start - timedelta(days=9), start - timedelta(days=8), user=None)
    assert before.value("changes_closed") == 0 and before.value("change_success_rate") is None


def test_the_history_shows_human_labels_in_the_readers_language(make_change, agent, client):
    change = move(make_change(), "assess", actor=agent)
    client.force_login(agent)
    detail = reverse("changes:change-detail", args=[change.pk])
    page = client.get(detail).content.decode()
    assert "change.transitioned" not in page and "change.created" not in page
    assert "<strong>Moved</strong>: Draft → Assess" in page
    assert "<strong>Created</strong> (Draft)" in page
    french = client.get(detail, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "<strong>Changement d’étape</strong>: Brouillon → Évaluation" in french
