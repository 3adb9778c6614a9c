"""Proposals accepted through the normal actions, once; replays with their diff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from ai.copilot.models import CopilotRun, ProposalDecision
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

ASK = "/api/ai/copilot/"


def ask(client, question, **extra):
    response = client.post(ASK, {"question": question, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def accept(client, proposal):
    return client.post(f"/api/ai/copilot/proposals/{proposal}/accept/")


@pytest.fixture
def printer(make_ticket, agent, team):
    return make_ticket("Printer on floor 3 is jammed", team=team, actor=agent)


def test_accepting_assigns_through_the_normal_action_once(api_for, agent, printer):
    client = api_for(agent)
    body = ask(client, f"assign {printer.number} to Bob")
    (proposal,) = body["proposals"]
    assert proposal["action"] == "assign" and proposal["decision"] is None
    printer.refresh_from_db()
    assert printer.assignee is None  # the copilot never writes by itself
    response = accept(client, proposal["id"])
    assert response.status_code == 200, response.json()
    printer.refresh_from_db()
    assert printer.assignee == agent
    audit = printer.audit_events.order_by("pgh_id").last()
    assert audit.pgh_context["actor_id"] == agent.pk
    version = printer.version
    again = accept(client, proposal["id"])
    assert again.status_code == 409
    printer.refresh_from_db()
    assert printer.version == version
    assert ProposalDecision.objects.count() == 1
    assert client.get(f"/api/ai/copilot/runs/{body['run']}/").json()["proposals"][0]["decision"] == "accepted"


def test_an_illegal_move_is_a_409_with_the_allowed_moves_and_leaves_the_proposal_open(
    api_for, agent, printer
):
    client = api_for(agent)
    (proposal,) = ask(client, f"close {printer.number}")["proposals"]  # new → closed is not a move
    response = accept(client, proposal["id"])
    assert response.status_code == 409
    assert "allowed" in response.json()
    assert ProposalDecision.objects.count() == 0


def test_resolving_without_a_resolution_is_a_400(api_for, agent, printer):
    client = api_for(agent)
    (proposal,) = ask(client, f"resolve {printer.number}")["proposals"]
    assert accept(client, proposal["id"]).status_code == 400
    (proposal,) = ask(client, f"resolve {printer.number} with: cleared the paper jam")["proposals"]
    assert accept(client, proposal["id"]).status_code == 200
    printer.refresh_from_db()
    assert (printer.status, printer.resolution) == ("resolved", "cleared the paper jam")


def test_someone_elses_proposal_is_a_404(api_for, agent, admin_user, printer):
    (proposal,) = ask(api_for(agent), f"assign {printer.number} to Bob")["proposals"]
    assert accept(api_for(admin_user), proposal["id"]).status_code == 404
    assert ProposalDecision.objects.count() == 0


def test_a_requester_cannot_accept_a_change_the_action_refuses(api_for, requester, printer, agent):
    # A requester may see their own ticket and be proposed a status move; the action refuses it.
    client = api_for(requester)
    (proposal,) = ask(client, f"close {printer.number}")["proposals"]
    assert accept(client, proposal["id"]).status_code == 403
    printer.refresh_from_db()
    assert printer.status == "new"


def test_a_reply_and_a_dismissal(api_for, agent, printer):
    client = api_for(agent)
    (proposal,) = ask(client, f"reply to {printer.number}: we are on our way")["proposals"]
    assert accept(client, proposal["id"]).status_code == 200
    assert printer.comments.get().body == "we are on our way"
    (other,) = ask(client, f"set the priority of {printer.number} to critical")["proposals"]
    assert client.post(f"/api/ai/copilot/proposals/{other['id']}/dismiss/").json()["outcome"] == "dismissed"
    assert accept(client, other["id"]).status_code == 409
    printer.refresh_from_db()
    assert printer.priority != "critical"


def test_a_replay_re_runs_the_plan_and_shows_what_changed(api_for, agent, make_ticket, team):
    client = api_for(agent)
    make_ticket("Printer on floor 3 is jammed", team=team, actor=agent)
    original = ask(client, "open tickets about the printer")
    same = client.post(f"/api/ai/copilot/runs/{original['run']}/replay/", {}, format="json").json()
    assert same["replay_of"] == original["run"] and same["source"] == "replay"
    assert same["diff"]["answer_changed"] is False
    added = make_ticket("Printer in the lobby is offline", team=team, actor=agent)
    changed = client.post(f"/api/ai/copilot/runs/{original['run']}/replay/", {}, format="json").json()
    assert changed["diff"]["answer_changed"] is True
    assert changed["diff"]["steps"][0]["added"] == [f"ticket:{added.pk}"]
    assert CopilotRun.objects.get(pk=original["run"]).answer == original["answer"]  # untouched


def test_replay_is_for_the_asker_and_admins(api_for, agent, other_agent, admin_user):
    run = ask(api_for(agent), "my tickets")["run"]
    assert api_for(other_agent).post(f"/api/ai/copilot/runs/{run}/replay/").status_code == 404
    assert api_for(admin_user).post(f"/api/ai/copilot/runs/{run}/replay/").status_code == 201
    assert (
        api_for(agent)
        .post(f"/api/ai/copilot/runs/{run}/replay/", {"planner": "x"}, format="json")
        .status_code
        == 400
    )


def test_the_replay_command_counts_changed_answers(api_for, agent, make_ticket, team, capsys):
    client = api_for(agent)
    ask(client, "open tickets about the printer")
    ask(client, "my tickets")
    make_ticket("Printer in the lobby is offline", team=team, actor=agent)
    call_command("copilot_replay", since=(timezone.localdate() - timedelta(days=1)).isoformat())
    out = capsys.readouterr().out
    assert "2 runs replayed, 1 answers changed." in out
    assert CopilotRun.objects.filter(replay_of__isnull=False).count() == 2


@pytest.mark.parametrize(
    "options",
    [{"since": "yesterday"}, {"since": "2026-01-01", "limit": 0}, {"since": "2026-01-01", "user": "x@y.z"}],
)
def test_the_replay_command_refuses_bad_arguments(options, db):
    with pytest.raises(CommandError):
        call_command("copilot_replay", **options)
    assert not Ticket.objects.exists()
