"""Who approves a runbook's executions is the runbook's setting: roles, the team leads it names
(the runbook's, the ticket's, the item's team), named people; the requester never decides their
own unless the version allows it. Set through the API and the admin; bad input changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import make_user
from itsm.approvals.models import ApprovalRequest
from itsm.models import AutomationEvent, Role
from runbooks import actions
from runbooks.models import Runbook, RunbookExecution

pytestmark = pytest.mark.django_db

MANUAL = [{"name": "Restart it", "type": "manual", "instructions": "By hand"}]


@pytest.fixture
def olga(other_team, web01):
    """The lead of the team that owns web01 (another team than the ticket's and the runbook's)."""
    user = make_user("olga.ops@example.com", Role.AGENT, full_name="Olga Ops")
    other_team.members.add(user)
    other_team.lead = user
    other_team.save(update_fields=["lead"])
    web01.owner_team = other_team
    web01.save(update_fields=["owner_team"])
    return user


def approvers_of_request(execution):
    approval = ApprovalRequest.objects.for_target(execution).get()
    return {link.user.email for link in approval.approver_links.select_related("user")}


def set_approvers(runbook, admin_user, roles=(), leads=(), users=()):
    approvers = actions.check_approvers(list(roles), list(leads), list(users))
    return actions.do_set_approvers(runbook, actor=admin_user, approvers=approvers)


def test_by_default_admins_and_the_three_team_leads_approve(
    make_runbook, incident, agent, lead, olga, admin_user
):
    runbook = make_runbook(MANUAL)
    assert runbook.approver_roles == ["admin"]
    assert runbook.approver_leads == ["runbook_team", "ticket_team", "item_team"]
    execution = actions.do_request_execution(incident, runbook, actor=agent)
    assert approvers_of_request(execution) == {admin_user.email, lead.email, olga.email}


def test_only_the_item_owner_team_lead_when_the_runbook_says_so(
    make_runbook, incident, agent, lead, olga, admin_user, api_for
):
    runbook = set_approvers(make_runbook(MANUAL), admin_user, leads=["item_team"])
    execution = actions.do_request_execution(incident, runbook, actor=agent)
    assert approvers_of_request(execution) == {olga.email}
    url = f"/api/runbooks/executions/{execution.pk}/approve/"
    assert api_for(lead).post(url, {}, format="json").status_code == 403
    assert api_for(admin_user).post(url, {}, format="json").status_code == 403
    assert api_for(olga).post(url, {"comment": "ok"}, format="json").json()["status"] == "queued"


def test_named_people_and_a_role(make_runbook, incident, agent, lead, other_agent, admin_user):
    runbook = set_approvers(make_runbook(MANUAL), admin_user, users=[other_agent.email])
    execution = actions.do_request_execution(incident, runbook, actor=agent)
    assert approvers_of_request(execution) == {other_agent.email}
    actions.do_cancel_execution(execution, actor=agent)
    # Every agent (and no admin): the requester is left out of their own request.
    set_approvers(runbook, admin_user, roles=["agent"])
    execution = actions.do_request_execution(incident, runbook, actor=agent)
    assert approvers_of_request(execution) == {lead.email, other_agent.email}


def test_when_only_the_requester_could_approve_nothing_is_started(
    make_runbook, incident, agent, admin_user, api_for
):
    runbook = set_approvers(make_runbook(MANUAL), admin_user, users=[agent.email])
    response = api_for(agent).post(
        f"/api/tickets/{incident.pk}/runbooks/{runbook.pk}/execute/", {}, format="json"
    )
    assert response.status_code == 400 and "approvers" in response.json()
    assert not RunbookExecution.objects.exists() and not ApprovalRequest.objects.exists()
    # Unless the version lets the requester approve their own.
    actions.do_edit_draft(runbook, actor=admin_user, values={"allow_self_approval": True})
    actions.do_publish_runbook(runbook, actor=admin_user)
    execution = actions.do_request_execution(incident, runbook, actor=agent)
    assert approvers_of_request(execution) == {agent.email}
    assert actions.do_decide_execution(execution, actor=agent, approve=True).status == "queued"


def test_the_api_shows_and_changes_the_approvers_without_a_new_draft(
    make_runbook, admin_user, other_agent, api_for
):
    runbook = make_runbook(MANUAL)
    url = f"/api/runbooks/{runbook.pk}/"
    assert api_for(admin_user).get(url).json()["approvers"] == {
        "roles": ["admin"],
        "team_leads": ["runbook_team", "ticket_team", "item_team"],
        "users": [],
    }
    response = api_for(admin_user).patch(
        url, {"approvers": {"team_leads": ["ticket_team"], "users": [other_agent.email]}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["approvers"] == {
        "roles": ["admin"],  # a part left out is kept
        "team_leads": ["ticket_team"],
        "users": [other_agent.email],
    }
    assert response.json()["draft"] is None
    event = AutomationEvent.objects.get(action="runbooks.approvers_changed")
    assert event.after["users"] == [other_agent.email] and event.before["users"] == []
    created = api_for(admin_user).post(
        "/api/runbooks/",
        {"name": "Clear cache", "steps": MANUAL, "approvers": {"roles": [], "team_leads": ["item_team"]}},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["approvers"] == {"roles": [], "team_leads": ["item_team"], "users": []}


@pytest.mark.parametrize(
    "approvers, field",
    [
        ({"roles": ["viewer"]}, "approvers.roles"),
        ({"team_leads": ["boss"]}, "approvers.team_leads"),
        ({"users": ["nobody@example.com"]}, "approvers.users"),
        ({"users": ["rita.requester@example.com"]}, "approvers.users"),
        ({"roles": [], "team_leads": [], "users": []}, "approvers"),
    ],
)
def test_bad_approvers_are_refused_and_nothing_changes(
    make_runbook, admin_user, requester, api_for, approvers, field
):
    runbook = make_runbook(MANUAL)
    requester.email = "rita.requester@example.com"
    requester.save(update_fields=["email"])
    response = api_for(admin_user).patch(
        f"/api/runbooks/{runbook.pk}/", {"approvers": approvers}, format="json"
    )
    assert response.status_code == 400 and field in response.json(), response.content
    runbook.refresh_from_db()
    assert runbook.approver_roles == ["admin"] and not runbook.approver_users.exists()
    assert not AutomationEvent.objects.filter(action="runbooks.approvers_changed").exists()


def test_a_refused_draft_leaves_the_approvers_as_they_were(make_runbook, admin_user, api_for, agent):
    runbook = make_runbook(MANUAL)
    response = api_for(admin_user).patch(
        f"/api/runbooks/{runbook.pk}/",
        {"approvers": {"roles": ["agent"]}, "steps": [{"name": "x", "type": "teleport"}]},
        format="json",
    )
    assert response.status_code == 400
    assert Runbook.objects.get(pk=runbook.pk).approver_roles == ["admin"]
    # Only admins set approvers.
    assert (
        api_for(agent)
        .patch(f"/api/runbooks/{runbook.pk}/", {"approvers": {"roles": ["agent"]}}, format="json")
        .status_code
        == 403
    )


def test_the_admin_edits_the_approvers(client, make_runbook, admin_user, other_agent, team):
    runbook = make_runbook(MANUAL)
    client.force_login(admin_user)
    url = reverse("admin:runbooks_runbook_change", args=[runbook.pk])
    page = client.get(url).content.decode()
    assert "Lead of the affected item" in page and str(other_agent) in page
    form = {
        "name": runbook.name,
        "description": "",
        "owner_team": team.pk,
        "active": "on",
        "approvers_roles": [],
        "approvers_team_leads": ["ticket_team"],
        "approvers_users": [other_agent.pk],
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "versions-0-id": runbook.versions.get().pk,
        "versions-0-runbook": runbook.pk,
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    runbook.refresh_from_db()
    assert runbook.approver_roles == [] and runbook.approver_leads == ["ticket_team"]
    assert list(runbook.approver_users.all()) == [other_agent]
    assert AutomationEvent.objects.filter(action="runbooks.approvers_changed").count() == 1
    # Nobody at all: the form says so and nothing changes.
    form |= {"approvers_team_leads": [], "approvers_users": []}
    refused = client.post(url, form)
    assert refused.status_code == 200 and "at least one approver" in refused.content.decode()
    assert Runbook.objects.get(pk=runbook.pk).approver_leads == ["ticket_team"]
