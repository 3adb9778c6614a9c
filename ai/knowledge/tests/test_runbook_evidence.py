"""``ai`` weighs, in runbook matching, how like the tickets a runbook resolved the ticket reads
(real MiniLM embeddings of a few short texts)."""

from __future__ import annotations

import pytest

from ai.knowledge import runbook_evidence
from runbooks import actions as runbook_actions
from runbooks import matching
from runbooks.models import ExecutionStatus, RunbookExecution

MANUAL = [{"name": "Do it", "type": "manual", "instructions": "By hand"}]


@pytest.fixture
def make_runbook(admin_user):
    def make(name, match):
        runbook = runbook_actions.do_create_runbook(
            actor=admin_user, name=name, version={"steps": MANUAL, "match": match}
        )
        runbook_actions.do_publish_runbook(runbook, actor=admin_user)
        return runbook

    return make


def ran(runbook, ticket, status=ExecutionStatus.SUCCEEDED):
    return RunbookExecution.objects.create(
        runbook=runbook, version=runbook.published_version(), ticket=ticket, status=status
    )


@pytest.fixture
def history(make_runbook, resolved_ticket):
    """Two runbooks whose criteria say nothing about the new tickets, each with a ticket it resolved."""
    nginx = make_runbook("Restart the web server", {"keywords": ["zz-never"]})
    printer = make_runbook("Clear the print queue", {"keywords": ["zz-never"]})
    web = resolved_ticket(
        "Website returns 502 Bad Gateway",
        "The intranet site answers 502 Bad Gateway; nginx on web01 looks stuck.",
        "Restarted nginx on web01.",
    )
    paper = resolved_ticket(
        "Printer on floor 3 keeps jamming",
        "Paper jam on the floor 3 printer, print jobs stuck in the queue.",
        "Cleared the print queue.",
    )
    ran(nginx, web)
    ran(printer, paper)
    return {"nginx": nginx, "printer": printer, "web": web, "paper": paper}


def test_a_ticket_like_one_a_runbook_resolved_matches_it_with_the_reason(history, make_ticket, minilm):
    ticket = make_ticket(
        "Intranet down with 502 Bad Gateway", description="nginx seems stuck, the site answers 502."
    )
    [match] = matching.match_ticket(ticket)
    assert match.runbook == history["nginx"]
    [reason] = match.reasons
    assert history["web"].number in reason and "similar" in reason
    similarity = int(reason.split("(")[1].split(" ")[0]) / 100
    assert similarity >= 0.6
    # The evidence enters the calibrated confidence like any other.
    expected = runbook_evidence.weight_for(similarity)
    assert match.score == pytest.approx(expected, abs=0.02)
    assert match.confidence == pytest.approx(1 - 2.718281828 ** (-match.score / 2), abs=0.001)


def test_it_adds_to_the_other_evidence(history, make_ticket, minilm, admin_user):
    runbook_actions.do_edit_draft(history["nginx"], actor=admin_user, values={"match": {"keywords": ["502"]}})
    runbook_actions.do_publish_runbook(history["nginx"], actor=admin_user)
    ticket = make_ticket("Intranet down with 502 Bad Gateway", description="nginx seems stuck.")
    [match] = matching.match_ticket(ticket)
    assert match.reasons[0] == "keywords: 502"
    assert "similar" in match.reasons[1]
    assert match.score > matching.WEIGHTS["keyword"] + 0.5


def test_unrelated_text_failed_runs_and_open_tickets_add_nothing(
    history, make_ticket, minilm, resolved_ticket
):
    # A failed execution on a web ticket, and a success on a ticket still open, are no history.
    other = resolved_ticket("Website 502 again", "nginx answers 502 Bad Gateway again.", "Rebooted.")
    ran(history["printer"], other, status=ExecutionStatus.FAILED)
    still_open = make_ticket("Website 502", description="nginx answers 502 Bad Gateway")
    ran(history["printer"], still_open)
    unrelated = make_ticket("New laptop for a starter", description="Please order a laptop for Monday.")
    assert matching.match_ticket(unrelated) == []
    like_web = make_ticket("Intranet 502 Bad Gateway", description="nginx is stuck")
    assert [match.runbook for match in matching.match_ticket(like_web)] == [history["nginx"]]


def test_without_ai_or_for_a_sensitive_ticket_the_rest_still_works(history, make_ticket, minilm):
    ticket = make_ticket("Intranet down with 502 Bad Gateway", description="nginx seems stuck.")
    matching.unregister_evidence(runbook_evidence.NAME)
    try:
        assert matching.match_ticket(ticket) == []
    finally:
        runbook_evidence.register()
    secret = make_ticket("Intranet down with 502 Bad Gateway", description="nginx", sensitive=True)
    assert matching.match_ticket(secret) == []


def test_the_api_shows_the_similarity_reason(history, make_ticket, minilm, api_for, agent, team):
    ticket = make_ticket("Intranet down with 502 Bad Gateway", description="nginx seems stuck.", team=team)
    [match] = api_for(agent).get(f"/api/tickets/{ticket.pk}/runbooks/").json()
    assert match["runbook"]["name"] == "Restart the web server"
    assert any(history["web"].number in reason for reason in match["reasons"])
    assert 0 < match["confidence"] < 1


def test_the_query_is_one_statement_after_the_history_check(
    history, make_ticket, minilm, django_assert_num_queries
):
    ticket = make_ticket("Intranet down with 502 Bad Gateway", description="nginx seems stuck.")
    matches = [matching.Match(version=version) for version in matching.RunbookVersion.objects.current()]
    with django_assert_num_queries(2):  # is there any history; the one search
        runbook_evidence.add_similarity_evidence(ticket, matches)
    assert [m.runbook for m in matches if m.score] == [history["nginx"]]
