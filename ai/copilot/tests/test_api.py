"""POST /api/ai/copilot/ and the runs API: shapes, bad input, visibility, the recorded trace."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse

from ai.copilot.models import CopilotProposal, CopilotRun, CopilotStep, ProposalDecision

pytestmark = pytest.mark.django_db

ASK = "/api/ai/copilot/"
RUNS = "/api/ai/copilot/runs/"


@pytest.fixture
def printer(make_ticket, agent, team):
    return make_ticket("Printer on floor 3 is jammed", team=team, actor=agent, description="Paper jam again.")


@pytest.fixture
def secret(make_ticket, agent, team, other_requester):
    return make_ticket(
        "Payroll export leaked salaries",
        sensitive=True,
        team=team,
        requester=other_requester,
        actor=agent,
    )


def test_it_answers_with_citations_steps_and_records_the_run(api_for, agent, printer):
    response = api_for(agent).post(ASK, {"question": f"Tell me about {printer.number}"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "answered"
    assert "Printer on floor 3 is jammed" in body["answer"]
    assert body["citations"] == [
        {"type": "ticket", "id": printer.pk, "label": f"{printer.number} Printer on floor 3 is jammed"}
    ]
    (step,) = body["steps"]
    assert step["tool"] == "get_ticket"
    assert step["arguments"] == {"number": printer.number}
    assert step["result_ids"] == [{"type": "ticket", "id": printer.pk}]
    assert body["proposals"] == []
    run = CopilotRun.objects.get(pk=body["run"])
    assert (run.user, run.planner, run.intent, run.source) == (agent, "local", "ticket", "api")
    assert run.steps.count() == 1


def test_a_ticket_context_lets_the_question_say_this(api_for, agent, printer):
    response = api_for(agent).post(
        ASK, {"question": "Tell me about this ticket", "ticket": printer.pk}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["ticket"] == printer.pk
    assert printer.number in response.json()["answer"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"question": ""},
        {"question": "   "},
        {"question": "x" * 2001},
        {"question": ["tickets"]},
        {"question": "my tickets", "ticket": "abc"},
        {"question": "my tickets", "ticket": 0},
        {"question": "my tickets", "planner": "gpt"},
    ],
)
def test_bad_input_is_a_400_and_records_nothing(api_for, agent, payload):
    response = api_for(agent).post(ASK, payload, format="json")
    assert response.status_code == 400
    assert CopilotRun.objects.count() == 0


def test_a_question_of_2000_characters_is_accepted(api_for, agent):
    question = ("my open tickets " * 200)[:2000]
    assert api_for(agent).post(ASK, {"question": question}, format="json").status_code == 201


def test_a_ticket_context_the_user_may_not_see_is_refused_like_a_missing_one(api_for, other_agent, secret):
    hidden = api_for(other_agent).post(ASK, {"question": "what is this?", "ticket": secret.pk}, format="json")
    missing = api_for(other_agent).post(ASK, {"question": "what is this?", "ticket": 99999999}, format="json")
    assert hidden.status_code == missing.status_code == 400
    assert hidden.json() == missing.json()
    assert CopilotRun.objects.count() == 0


@pytest.mark.parametrize("persona", ["other_agent", "viewer", "requester"])
def test_a_ticket_the_user_may_not_see_answers_as_if_it_did_not_exist(request, api_for, persona, secret):
    user = request.getfixturevalue(persona)
    client = api_for(user)
    hidden = client.post(ASK, {"question": f"Tell me about {secret.number}"}, format="json").json()
    missing = client.post(ASK, {"question": "Tell me about INC-999999"}, format="json").json()
    assert hidden["answer"].replace(secret.number, "N") == missing["answer"].replace("INC-999999", "N")
    assert "Payroll" not in hidden["answer"]
    assert hidden["citations"] == [] and hidden["steps"][0]["result_ids"] == []
    for question in (
        "tickets about payroll",
        f"SLA of {secret.number}",
        f"tickets similar to {secret.number}",
    ):
        body = client.post(ASK, {"question": question}, format="json").json()
        assert "Payroll" not in body["answer"], question
        assert str(secret.pk) not in {str(c["id"]) for c in body["citations"]}, question


def test_the_service_desk_agent_does_see_the_sensitive_ticket(api_for, agent, secret):
    body = api_for(agent).post(ASK, {"question": "tickets about payroll"}, format="json").json()
    assert "Payroll export leaked salaries" in body["answer"]


def test_a_requester_reads_only_their_own_tickets(api_for, requester, other_requester, make_ticket):
    mine = make_ticket("My screen flickers", requester=requester)
    make_ticket("Their screen flickers", requester=other_requester)
    body = api_for(requester).post(ASK, {"question": "my tickets"}, format="json").json()
    assert mine.title in body["answer"]
    assert "Their screen" not in body["answer"]
    assert CopilotRun.objects.get(pk=body["run"]).source == "portal"


def test_a_requester_gets_no_kpis_nor_workload(api_for, requester):
    client = api_for(requester)
    assert client.post(ASK, {"question": "MTTR this week"}, format="json").json()["status"] == "declined"
    assert client.post(ASK, {"question": "who is available?"}, format="json").json()["status"] == "declined"


def test_out_of_scope_is_declined_with_suggestions(api_for, agent):
    body = api_for(agent).post(ASK, {"question": "What's the weather in Paris?"}, format="json").json()
    assert body["status"] == "declined"
    assert "I can answer questions such as" in body["answer"]
    assert body["steps"] == []


def test_wrong_method(api_for, agent):
    assert api_for(agent).get(ASK).status_code == 405
    assert api_for(agent).delete(f"{RUNS}1/").status_code == 405


# --- runs -----------------------------------------------------------------------------------------
def ask(client, question):
    return client.post(ASK, {"question": question}, format="json").json()["run"]


def test_users_list_their_own_runs_and_admins_all(api_for, agent, other_agent, admin_user, printer):
    mine = ask(api_for(agent), "my tickets")
    theirs = ask(api_for(other_agent), "Tell me a joke")
    assert [row["run"] for row in api_for(agent).get(RUNS).json()["results"]] == [mine]
    assert {row["run"] for row in api_for(admin_user).get(RUNS).json()["results"]} == {mine, theirs}
    admin = api_for(admin_user)
    assert [row["run"] for row in admin.get(RUNS, {"status": "declined"}).json()["results"]] == [theirs]
    assert [row["run"] for row in admin.get(RUNS, {"tool": "search_tickets"}).json()["results"]] == [mine]
    assert [row["run"] for row in admin.get(RUNS, {"user": agent.email}).json()["results"]] == [mine]
    assert admin.get(RUNS, {"status": "bogus"}).status_code == 400
    assert api_for(agent).get(f"{RUNS}{theirs}/").status_code == 404
    assert api_for(admin_user).get(f"{RUNS}{mine}/").json()["steps"][0]["tool"] == "search_tickets"


def test_the_runs_list_has_a_fixed_number_of_queries(api_for, agent, django_assert_max_num_queries):
    client = api_for(agent)
    for _n in range(3):
        ask(client, "my tickets")
    # Token auth and throttle, the count and the page (the user joined), whatever the number of runs.
    with django_assert_max_num_queries(8):
        assert len(client.get(RUNS).json()["results"]) == 3


def test_runs_steps_and_proposals_are_append_only(api_for, agent, printer):
    run = CopilotRun.objects.get(pk=ask(api_for(agent), f"assign {printer.number} to Bob"))
    for queryset in (
        CopilotRun.objects.filter(pk=run.pk),
        CopilotStep.objects.filter(run=run),
        CopilotProposal.objects.filter(run=run),
    ):
        assert queryset.exists()
        with pytest.raises(DatabaseError), transaction.atomic():
            queryset.update(id=queryset.first().pk)
        with pytest.raises(DatabaseError), transaction.atomic():
            queryset.delete()
    assert ProposalDecision.objects.count() == 0


def test_the_page_urls_are_named():
    assert reverse("ai-copilot") == ASK
