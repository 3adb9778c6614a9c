"""Problems that learn: joining, candidate review, merging, full editing, history and notes."""

import pytest
from django.urls import reverse

from cmdb import actions as cmdb_actions
from itsm.models import AutomationEvent, Notification
from problems import actions, history
from problems.models import Problem, ProblemStatus, RecurrenceCandidate

pytestmark = pytest.mark.django_db

VPN = [
    "VPN disconnects every hour",
    "VPN disconnects every few minutes",
    "VPN disconnects every hour again",
    "VPN disconnects every hour on wifi",
    "VPN disconnects every hour at home",
    "VPN disconnects every hour since monday",
    "VPN disconnects every hour today",
]


@pytest.fixture
def vpn_problem(make_ticket, agent):
    incidents = [make_ticket(title) for title in VPN[:3]]
    return actions.do_create_problem(actor=agent, title="VPN drops", owner=agent, incidents=incidents)


# --- joining ---------------------------------------------------------------------------------
def test_a_new_similar_incident_joins_the_open_problem_instead_of_opening_another(
    vpn_problem, make_ticket, agent
):
    newcomer = make_ticket(VPN[3])
    unrelated = make_ticket("Printer out of toner")
    assert actions.do_join_similar_incidents(dry_run=True)[0]["ticket"] == newcomer.number
    assert not vpn_problem.links.filter(ticket=newcomer).exists()  # a dry run links nothing

    joined = actions.do_join_similar_incidents()
    assert [entry["ticket"] for entry in joined] == [newcomer.number]
    assert vpn_problem.links.filter(ticket=newcomer).exists()
    assert not vpn_problem.links.filter(ticket=unrelated).exists()
    assert Notification.objects.filter(recipient=agent, verb="problem_incident_joined").count() == 1
    event = AutomationEvent.objects.get(action="problem.incident_joined")
    assert event.actor == "system:problems" and event.subject_id == str(vpn_problem.pk)
    # A second run changes nothing; detection opens no second problem for the same cause.
    assert actions.do_join_similar_incidents() == []
    assert actions.do_detect_recurrences() == []
    assert Problem.objects.count() == 1


def test_a_sensitive_incident_never_joins_a_problem(vpn_problem, make_ticket, agent, team):
    make_ticket(f"{VPN[3]} for the CFO", sensitive=True, team=team, actor=agent)
    assert actions.do_join_similar_incidents() == []
    assert vpn_problem.links.count() == 3


def test_a_closed_problem_attracts_nothing(vpn_problem, make_ticket, agent):
    actions.do_transition_problem(vpn_problem, ProblemStatus.CLOSED, actor=agent)
    make_ticket(VPN[3])
    assert actions.do_join_similar_incidents() == []


# --- candidates ------------------------------------------------------------------------------
@pytest.fixture
def review(settings):
    settings.PROBLEM_AUTO_CREATE = False
    settings.PROBLEM_CANDIDATE_RERAISE_AFTER = 2


def test_with_auto_create_off_a_cluster_waits_for_review_and_is_promoted_once(
    review, make_ticket, agent, api_for
):
    incidents = [make_ticket(title) for title in VPN[:3]]
    actions.do_detect_recurrences()
    assert not Problem.objects.exists()
    candidate = RecurrenceCandidate.objects.get()
    client = api_for(agent)
    listing = client.get("/api/problems/candidates/").json()
    assert [entry["id"] for entry in listing["results"]] == [candidate.pk]
    assert listing["results"][0]["incidents"] == [t.number for t in incidents]

    promoted = client.post(f"/api/problems/candidates/{candidate.pk}/promote/")
    assert promoted.status_code == 201, promoted.json()
    assert promoted.json()["incidents"] == [t.number for t in incidents]
    again = client.post(f"/api/problems/candidates/{candidate.pk}/promote/")
    assert again.status_code == 409
    assert Problem.objects.count() == 1
    candidate.refresh_from_db()
    assert candidate.state == "accepted" and candidate.decided_by == agent


def test_a_dismissal_needs_a_reason_and_the_cluster_returns_only_once_it_grew(
    review, make_ticket, agent, api_for
):
    for title in VPN[:3]:
        make_ticket(title)
    actions.do_detect_recurrences()
    candidate = RecurrenceCandidate.objects.get()
    client = api_for(agent)
    assert (
        client.post(f"/api/problems/candidates/{candidate.pk}/dismiss/", {}, format="json").status_code == 400
    )
    assert (
        client.post(
            f"/api/problems/candidates/{candidate.pk}/dismiss/", {"reason": " "}, format="json"
        ).status_code
        == 400
    )
    candidate.refresh_from_db()
    assert candidate.state == "open"
    dismissed = client.post(
        f"/api/problems/candidates/{candidate.pk}/dismiss/", {"reason": "Known ISP outage"}, format="json"
    )
    assert dismissed.status_code == 200 and dismissed.json()["state"] == "dismissed"
    assert (
        client.post(
            f"/api/problems/candidates/{candidate.pk}/dismiss/", {"reason": "x"}, format="json"
        ).status_code
        == 409
    )

    make_ticket(VPN[3])  # grew by one: below the threshold of two
    assert actions.do_detect_recurrences() == []
    candidate.refresh_from_db()
    assert candidate.state == "dismissed"
    make_ticket(VPN[4])  # grew by two: raised again
    report = actions.do_detect_recurrences()
    assert len(report) == 1 and report[0]["size"] == 5
    candidate.refresh_from_db()
    assert candidate.state == "open" and candidate.size == 5
    assert RecurrenceCandidate.objects.count() == 1


def test_candidates_are_for_the_service_desk(review, make_ticket, agent, viewer, requester, api_for):
    for title in VPN[:3]:
        make_ticket(title)
    actions.do_detect_recurrences()
    candidate = RecurrenceCandidate.objects.get()
    assert api_for(viewer).get("/api/problems/candidates/").status_code == 200
    assert api_for(viewer).post(f"/api/problems/candidates/{candidate.pk}/promote/").status_code == 403
    assert api_for(requester).get("/api/problems/candidates/").status_code == 403
    assert api_for(agent).get("/api/problems/candidates/?state=bogus").status_code == 400


def test_the_candidate_page_promotes_and_dismisses(
    review, make_ticket, agent, client, django_assert_num_queries
):
    for title in VPN[:3]:
        make_ticket(title)
    actions.do_detect_recurrences()
    candidate = RecurrenceCandidate.objects.get()
    client.force_login(agent)
    url = reverse("problems:candidate-list")
    client.get(url)  # warm the session and the caches
    with django_assert_num_queries(6):
        page = client.get(url)
    assert candidate.title in page.content.decode()
    response = client.post(reverse("problems:candidate-dismiss", args=[candidate.pk]), {"reason": ""})
    assert response.status_code == 302
    candidate.refresh_from_db()
    assert candidate.state == "open"
    response = client.post(reverse("problems:candidate-promote", args=[candidate.pk]))
    problem = Problem.objects.get()
    assert response.url == reverse("problems:problem-detail", args=[problem.pk])


# --- merging ---------------------------------------------------------------------------------
def test_two_problems_merge_keeping_incidents_notes_and_history(make_ticket, agent, api_for):
    first = actions.do_create_problem(actor=agent, title="Mail slow", incidents=[make_ticket("Mail slow")])
    second = actions.do_create_problem(
        actor=agent, title="Outlook slow", incidents=[make_ticket("Outlook slow")]
    )
    actions.do_add_problem_note(first, actor=agent, body="Exchange queue is long")
    client = api_for(agent)
    assert (
        client.post(f"/api/problems/{first.pk}/merge/", {"into": first.number}, format="json").status_code
        == 400
    )
    assert (
        client.post(f"/api/problems/{first.pk}/merge/", {"into": "PRB-999999"}, format="json").status_code
        == 400
    )
    response = client.post(f"/api/problems/{first.pk}/merge/", {"into": second.number}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["recurrence_count"] == 2
    first.refresh_from_db()
    assert first.status == ProblemStatus.CLOSED and first.duplicate_of == second
    assert second.notes.filter(body="Exchange queue is long").exists()
    assert first.audit_events.count() >= 2  # its own history stays with it
    again = client.post(f"/api/problems/{first.pk}/merge/", {"into": second.number}, format="json")
    assert again.status_code == 200 and again.json()["recurrence_count"] == 2
    assert AutomationEvent.objects.filter(action="problem.merged").count() == 1


# --- editing, history, notes -----------------------------------------------------------------
def test_the_api_edits_every_field_and_the_history_keeps_each_change(agent, other_agent, other_team, api_for):
    item = cmdb_actions.do_create_item(actor=None, name="mail-01", type="server")
    problem = actions.do_create_problem(actor=agent, title="Mail slow")
    client = api_for(agent)
    response = client.patch(
        f"/api/problems/{problem.pk}/",
        {
            "title": "Mail slow for everyone",
            "owner": other_agent.email,
            "team": other_team.name,
            "priority": "high",
            "affected_items": ["MAIL-01"],
            "root_cause": "Queue full",
            "status": "investigating",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["owner"] == other_agent.email and body["affected_items"] == [item.name]
    assert body["priority"] == "high" and body["status"] == "investigating"
    changes = {entry.field: entry for entry in history.timeline(problem, agent) if entry.kind == "changed"}
    assert set(changes) == {
        "title",
        "owner",
        "team",
        "priority",
        "affected items",
        "root cause",
        "status",
    } - {"affected items"}
    assert changes["title"].old == "Mail slow" and changes["title"].actor == agent.email
    assert changes["owner"].new == other_agent.email
    assert changes["status"].new == "Investigating"


def test_bad_edits_change_nothing(agent, requester, api_for):
    problem = actions.do_create_problem(actor=agent, title="Mail slow")
    client = api_for(agent)
    for payload in (
        {"owner": requester.email},
        {"affected_items": ["no-such-item"]},
        {"priority": "urgent"},
        {"title": ""},
        {"team": "Nobody"},
    ):
        assert client.patch(f"/api/problems/{problem.pk}/", payload, format="json").status_code == 400, (
            payload
        )
    problem.refresh_from_db()
    assert (problem.title, problem.owner, problem.priority) == ("Mail slow", None, "medium")
    assert problem.audit_events.count() == 1


def test_notes_are_internal(agent, viewer, requester, api_for):
    problem = actions.do_create_problem(actor=agent, title="Mail slow")
    created = api_for(agent).post(
        f"/api/problems/{problem.pk}/notes/", {"body": "Check the queue"}, format="json"
    )
    assert created.status_code == 201
    assert (
        api_for(agent).post(f"/api/problems/{problem.pk}/notes/", {"body": ""}, format="json").status_code
        == 400
    )
    assert [
        n["body"] for n in api_for(viewer).get(f"/api/problems/{problem.pk}/notes/").json()["results"]
    ] == ["Check the queue"]
    assert (
        api_for(viewer).post(f"/api/problems/{problem.pk}/notes/", {"body": "x"}, format="json").status_code
        == 403
    )
    assert api_for(requester).get(f"/api/problems/{problem.pk}/notes/").status_code == 403


def test_the_page_edits_notes_and_unlinks_from_both_sides(client, agent, make_ticket, team):
    ticket = make_ticket("Mail slow")
    other = make_ticket("Mail slow too")
    problem = actions.do_create_problem(actor=agent, title="Mail slow", incidents=[ticket, other])
    client.force_login(agent)
    url = reverse("problems:problem-detail", args=[problem.pk])
    response = client.post(
        url,
        {
            "title": "Mail slow (Exchange)",
            "description": "",
            "status": "investigating",
            "priority": "high",
            "owner": agent.pk,
            "team": team.pk,
            "category": "",
            "affected_items": "",
            "root_cause": "",
            "workaround": "",
            "fix": "",
        },
    )
    assert response.status_code == 302
    problem.refresh_from_db()
    assert (problem.title, problem.owner, problem.team) == ("Mail slow (Exchange)", agent, team)
    client.post(reverse("problems:problem-note", args=[problem.pk]), {"body": "Called Microsoft"})
    assert client.post(reverse("problems:problem-note", args=[problem.pk]), {"body": ""}).status_code == 400
    page = client.get(url).content.decode()
    assert "Called Microsoft" in page and "Mail slow (Exchange)" in page
    # unlink from the problem page, then from the ticket's panel
    client.post(reverse("problems:problem-unlink", args=[problem.pk]), {"ticket": ticket.number})
    panel = client.get(reverse("problems:ticket-panel", args=[other.pk])).content.decode()
    assert "Unlink from" in panel
    client.post(
        reverse("problems:problem-unlink", args=[problem.pk]),
        {"ticket": other.number, "next": f"/tickets/{other.pk}/"},
    )
    assert problem.links.count() == 0
    kinds = [entry.kind for entry in history.timeline(problem, agent)]
    assert kinds.count("unlinked") == 2 and kinds.count("linked") == 2 and "note" in kinds


def test_the_timeline_never_names_an_incident_the_reader_may_not_see(agent, other_agent, make_ticket, team):
    secret = make_ticket("CFO laptop stolen", sensitive=True, team=team, actor=agent)
    problem = actions.do_create_problem(actor=agent, title="Laptops", incidents=[secret])
    entries = [entry for entry in history.timeline(problem, other_agent) if entry.kind == "linked"]
    assert len(entries) == 1 and entries[0].ticket is None
    assert [entry.ticket for entry in history.timeline(problem, agent) if entry.kind == "linked"] == [secret]


def test_detection_records_its_events_with_record(make_ticket):
    for title in VPN[:3]:
        make_ticket(title)
    actions.do_detect_recurrences()
    event = AutomationEvent.objects.get(action="problem.detected")
    assert event.subject_type == "problem" and event.actor == "system:problems"


# --- suggestions -----------------------------------------------------------------------------
def test_suggestions_name_common_factors_and_similar_past_problems(
    make_ticket, agent, other_agent, team, api_for
):
    from tickets.models import Category

    network = Category.objects.create(name="Network")
    incidents = [make_ticket(title, category=network, service="VPN") for title in VPN[:3]]
    problem = actions.do_create_problem(actor=agent, title="VPN disconnects", incidents=incidents)
    past = actions.do_create_problem(actor=agent, title="VPN disconnects at night")
    actions.do_update_problem(
        past, actor=agent, root_cause="Rekey interval", fix="Raised to 8 h", status="resolved"
    )
    body = api_for(agent).get(f"/api/problems/{problem.pk}/suggestions/").json()
    factors = {(factor["name"], factor["value"]) for factor in body["factors"]}
    assert {("category", "Network"), ("service", "VPN"), ("word", "vpn")} <= factors
    assert [p["number"] for p in body["similar_problems"]] == [past.number]
    assert body["similar_problems"][0]["root_cause"] == "Rekey interval"
    problem.refresh_from_db()
    assert problem.root_cause == ""  # suggestions write nothing
    page = api_for(agent).get(f"/api/problems/{problem.pk}/suggestions/")
    assert page.status_code == 200


def test_suggestions_read_only_incidents_the_reader_may_see(make_ticket, agent, other_agent, team):
    from problems.suggestions import suggestions_for

    secret = [
        make_ticket(f"Payroll export {n}", sensitive=True, team=team, actor=agent, service="Payroll")
        for n in range(2)
    ]
    problem = actions.do_create_problem(actor=agent, title="Payroll export fails", incidents=secret)
    assert suggestions_for(problem, agent).incidents == 2
    hidden = suggestions_for(problem, other_agent)
    assert hidden.incidents == 0 and hidden.factors == []
