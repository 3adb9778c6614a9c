from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from itsm.models import AutomationEvent
from problems import actions
from problems.models import Problem, ProblemStatus, RecurrenceCandidate
from problems.signals import problem_detected

pytestmark = pytest.mark.django_db


def vpn_incidents(make_ticket, count=3, **fields):
    titles = [
        "VPN disconnects every hour",
        "VPN disconnects every few minutes",
        "VPN disconnects every hour again",
        "VPN disconnects every hour on wifi",
    ]
    return [make_ticket(title=titles[i % len(titles)], **fields) for i in range(count)]


def test_it_detects_a_cluster_of_similar_incidents_and_opens_one_problem(make_ticket):
    incidents = vpn_incidents(make_ticket)
    make_ticket(title="Printer out of toner")
    received = []
    problem_detected.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="test-detect")
    try:
        report = actions.do_detect_recurrences()
    finally:
        problem_detected.disconnect(dispatch_uid="test-detect")
    assert len(report) == 1
    problem = Problem.objects.get()
    assert problem.detected and problem.number.startswith("PRB-")
    assert sorted(link.ticket_id for link in problem.links.all()) == sorted(t.pk for t in incidents)
    assert received[0]["problem"] == problem
    assert AutomationEvent.objects.filter(actor="system:problems", subject_id=str(problem.pk)).count() == 1


def test_detection_is_idempotent(make_ticket):
    vpn_incidents(make_ticket)
    actions.do_detect_recurrences()
    assert actions.do_detect_recurrences() == []
    assert Problem.objects.count() == 1
    assert RecurrenceCandidate.objects.count() == 1


def test_a_dry_run_changes_nothing(make_ticket):
    vpn_incidents(make_ticket)
    report = actions.do_detect_recurrences(dry_run=True)
    assert report[0]["size"] == 3
    assert not Problem.objects.exists()
    assert not RecurrenceCandidate.objects.exists()


def test_it_needs_enough_recent_incidents(make_ticket):
    vpn_incidents(make_ticket, count=2)
    assert actions.do_detect_recurrences() == []
    old = vpn_incidents(make_ticket, count=3)
    for ticket in old:
        type(ticket).objects.filter(pk=ticket.pk).update(created_at=timezone.now() - timedelta(days=30))
    # two recent + three old: not enough within the window
    assert actions.do_detect_recurrences() == []


def test_linking_twice_changes_nothing_and_another_problem_is_refused(make_ticket, agent):
    ticket = make_ticket(title="Mail down")
    first = actions.do_create_problem(actor=agent, title="Mail outage")
    second = actions.do_create_problem(actor=agent, title="Another")
    actions.do_link_incident(first, ticket, actor=agent)
    actions.do_link_incident(first, ticket, actor=agent)
    assert first.links.count() == 1
    with pytest.raises(ValidationError):
        actions.do_link_incident(second, ticket, actor=agent)


def test_a_known_error_needs_a_root_cause_or_workaround(agent):
    problem = actions.do_create_problem(actor=agent, title="Disk fills up")
    from problems.models import IllegalProblemTransition

    with pytest.raises(IllegalProblemTransition):
        actions.do_transition_problem(problem, ProblemStatus.KNOWN_ERROR, actor=agent)
    problem = actions.do_transition_problem(
        problem, ProblemStatus.KNOWN_ERROR, actor=agent, workaround="Purge /tmp"
    )
    assert problem.status == ProblemStatus.KNOWN_ERROR


def test_the_api_creates_links_and_detects(agent, api_for, make_ticket):
    client = api_for(agent)
    ticket = make_ticket(title="SSO login loop")
    response = client.post("/api/problems/", {"title": "SSO", "incidents": [ticket.number]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["incidents"] == [ticket.number] and body["recurrence_count"] == 1
    other = make_ticket(title="SSO again")
    linked = client.post(f"/api/problems/{body['id']}/link/", {"ticket": other.number}, format="json")
    assert linked.json()["recurrence_count"] == 2
    unlinked = client.post(f"/api/problems/{body['id']}/unlink/", {"ticket": other.number}, format="json")
    assert unlinked.json()["recurrence_count"] == 1
    assert client.post("/api/problems/detect/", {"dry_run": True}, format="json").json()["dry_run"] is True


def test_the_api_refuses_bad_input_and_changes_nothing(agent, api_for):
    client = api_for(agent)
    assert client.post("/api/problems/", {"title": ""}, format="json").status_code == 400
    assert (
        client.post("/api/problems/", {"title": "x", "incidents": ["INC-999999"]}, format="json").status_code
        == 400
    )
    assert not Problem.objects.exists()
    problem = actions.do_create_problem(actor=agent, title="p")
    response = client.patch(f"/api/problems/{problem.pk}/", {"status": "known_error"}, format="json")
    assert response.status_code == 409
    assert "root cause" in response.json()["detail"]
    assert client.patch(f"/api/problems/{problem.pk}/", {"status": "bogus"}, format="json").status_code == 400
    problem.refresh_from_db()
    assert problem.status == ProblemStatus.NEW


def test_roles_on_the_api(agent, viewer, requester, api_for):
    problem = actions.do_create_problem(actor=agent, title="p")
    assert api_for(viewer).get("/api/problems/").status_code == 200
    assert api_for(viewer).post("/api/problems/", {"title": "x"}, format="json").status_code == 403
    assert api_for(requester).get("/api/problems/").status_code == 403
    assert api_for(requester).get(f"/api/problems/{problem.pk}/").status_code == 403


def test_the_pages(client, agent, requester, make_ticket):
    client.force_login(agent)
    response = client.post(reverse("problems:problem-create"), {"title": "Wifi drops", "description": ""})
    problem = Problem.objects.get()
    assert response.status_code == 302
    ticket = make_ticket(title="Wifi drops in room 4")
    client.post(reverse("problems:problem-link", args=[problem.pk]), {"ticket": ticket.number})
    assert problem.links.count() == 1
    page = client.get(reverse("problems:problem-detail", args=[problem.pk])).content.decode()
    assert ticket.number in page
    panel = client.get(reverse("problems:ticket-panel", args=[ticket.pk])).content.decode()
    assert problem.number in panel
    assert client.get(reverse("problems:problem-list")).status_code == 200
    client.force_login(requester)
    assert client.get(reverse("problems:problem-list")).status_code == 404
    assert client.get(reverse("problems:problem-detail", args=[problem.pk])).status_code == 404
