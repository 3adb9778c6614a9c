"""A problem's suggestions with an LLM: a cited analysis of its incidents and past problems, over
real HTTP to the local fake OpenAI-compatible server; the local suggestions otherwise."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ai.copilot.problem_analysis import SYSTEM_PROMPT
from problems import actions
from problems.models import ProblemStatus
from tickets.actions import do_edit_ticket

pytestmark = pytest.mark.django_db

VPN = [
    "VPN disconnects every hour",
    "VPN disconnects every hour at home",
    "VPN disconnects every hour on wifi",
]


@pytest.fixture
def problem(make_ticket, agent, team):
    incidents = [make_ticket(title, description="Since the firewall update.") for title in VPN]
    past = actions.do_create_problem(actor=agent, title="VPN disconnects every hour after update")
    actions.do_update_problem(
        past,
        actor=agent,
        root_cause="Firewall idle timeout of 60 minutes",
        fix="Raised the idle timeout",
        status=ProblemStatus.RESOLVED,
    )
    return actions.do_create_problem(actor=agent, title="VPN disconnects every hour", incidents=incidents)


def suggestions(api, problem) -> dict:
    response = api.get(f"/api/problems/{problem.pk}/suggestions/")
    assert response.status_code == 200
    return response.json()


def test_with_an_llm_the_suggestions_carry_its_cited_analysis(api_for, agent, problem, llm, client):
    first = problem.incidents.order_by("pk").first()
    past = problem.__class__.objects.get(title__endswith="after update")
    llm.script(
        "chat",
        [
            {
                "content": f"The firewall idle timeout drops the tunnel hourly [{first.number}], as in "
                f"[{past.number}] where raising it fixed it. Also see [INC-999999]."
            }
        ],
    )
    body = suggestions(api_for(agent), problem)
    assert body["source"] == "llm" and body["model"] == "fake-model"
    # The invented citation is gone from the text and the sources; the real ones are linked.
    assert "INC-999999" not in body["analysis"] and f"[{first.number}]" in body["analysis"]
    assert [(c["number"], c["kind"]) for c in body["citations"]] == [
        (first.number, "incident"),
        (past.number, "problem"),
    ]
    assert body["citations"][1]["url"] == reverse("problems:problem-detail", args=[past.pk])
    # The local suggestions are still there.
    assert body["similar_problems"][0]["number"] == past.number and body["factors"]
    (call,) = llm.calls("chat")
    system, user = call.body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert first.number in user["content"] and "Firewall idle timeout of 60 minutes" in user["content"]
    assert "<<<DATA " in user["content"]
    llm.script("chat", [{"content": f"The firewall idle timeout [{first.number}]."}])
    client.force_login(agent)
    page = client.get(reverse("problems:problem-detail", args=[problem.pk])).content.decode()
    assert 'data-testid="problem-analysis"' in page and "Likely root cause (AI suggestion)" in page
    # Suggestions only: nothing was written to the problem.
    problem.refresh_from_db()
    assert problem.root_cause == "" and problem.fix == ""


def test_when_the_llm_fails_the_local_suggestions_stand(api_for, agent, problem, llm):
    llm.script("chat", [500, 429, "timeout"])
    body = suggestions(api_for(agent), problem)
    assert len(llm.calls("chat")) == 3
    assert body["source"] == "local" and body["analysis"] == "" and body["citations"] == []
    assert body["similar_problems"]


@pytest.mark.parametrize(
    "answer", ["The network is flaky, reboot everything.", "NO_GROUNDED_ANSWER", "See [INC-999999]."]
)
def test_an_answer_citing_nothing_it_was_given_is_not_shown(api_for, agent, problem, llm, answer):
    llm.script("chat", [{"content": answer}])
    body = suggestions(api_for(agent), problem)
    assert body["source"] == "local" and body["analysis"] == ""


def test_without_an_llm_nothing_is_asked(api_for, agent, problem, fake_openai, settings):
    settings.AI_LLM_BASE_URL = ""
    body = suggestions(api_for(agent), problem)
    assert body["source"] == "local" and fake_openai.calls("chat") == []


def test_sensitive_incidents_never_travel_to_the_llm(api_for, agent, problem, llm, make_ticket, team):
    secret = make_ticket("VPN disconnects every hour for the CFO", sensitive=True, team=team, actor=agent)
    actions.do_link_incident(problem, secret, actor=agent)
    suggestions(api_for(agent), problem)
    (call,) = llm.calls("chat")
    assert secret.number not in call.body["messages"][1]["content"]


def test_the_same_inputs_ask_the_llm_once(api_for, agent, problem, llm):
    first = problem.incidents.order_by("pk").first()
    llm.script("chat", [{"content": f"The idle timeout [{first.number}]."}])
    api = api_for(agent)
    one, two = suggestions(api, problem), suggestions(api, problem)
    assert len(llm.calls("chat")) == 1
    assert one["analysis"] == two["analysis"] == f"The idle timeout [{first.number}]."
    assert two["source"] == "llm" and two["citations"] == one["citations"]
    # An incident changed: the model is asked again about what the incidents now say.
    do_edit_ticket(first, {"title": "VPN disconnects every hour since the firewall update"}, actor=agent)
    llm.script("chat", [{"content": f"The firewall update [{first.number}]."}])
    assert suggestions(api, problem)["analysis"] == f"The firewall update [{first.number}]."
    assert len(llm.calls("chat")) == 2


def test_no_analysis_is_not_kept(api_for, agent, problem, llm):
    first = problem.incidents.order_by("pk").first()
    llm.script("chat", [500, 429, "timeout", {"content": "NO_GROUNDED_ANSWER"}])
    api = api_for(agent)
    assert suggestions(api, problem)["source"] == "local"  # the model was down
    assert suggestions(api, problem)["source"] == "local"  # it had nothing grounded to say
    llm.script("chat", [{"content": f"The idle timeout [{first.number}]."}])
    assert suggestions(api, problem)["source"] == "llm"
    assert len(llm.calls("chat")) == 5


def test_a_cache_that_does_not_answer_still_gives_the_analysis(api_for, agent, problem, llm, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    first = problem.incidents.order_by("pk").first()
    llm.script("chat", [{"content": f"The idle timeout [{first.number}]."}])
    assert suggestions(api_for(agent), problem)["source"] == "llm"
