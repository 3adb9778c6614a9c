"""Problems beyond detection become `problem.*` deliveries (and chat notices), each once:
created by an agent, an incident linked (or joined by detection), merged, moved, resolved."""

from __future__ import annotations

import pytest
from django.utils import translation

from integrations.chat.models import ChannelKind, ChatChannel, ChatMessage
from integrations.chat.notice import notice_for
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from problems import actions
from problems.models import ProblemStatus

pytestmark = pytest.mark.django_db

PROBLEM_EVENTS = [
    "problem.detected",
    "problem.created",
    "problem.incident_linked",
    "problem.merged",
    "problem.status_changed",
    "problem.resolved",
]


@pytest.fixture
def subscription(db):
    return WebhookSubscription.objects.create(
        name="n8n", url="http://127.0.0.1:9/hook", events=PROBLEM_EVENTS
    )


def delivered(event: str) -> list[dict]:
    return [d.payload for d in WebhookDelivery.objects.filter(event=event).order_by("id")]


def events() -> list[str]:
    return list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True))


def test_a_problem_opened_by_an_agent_is_delivered_once_with_its_incidents(subscription, make_ticket, agent):
    incidents = [make_ticket("VPN drops"), make_ticket("VPN drops again")]
    problem = actions.do_create_problem(actor=agent, title="VPN drops", incidents=incidents)
    assert events() == ["problem.created"]  # its incidents are in it, not linked one by one
    payload = delivered("problem.created")[0]
    assert payload["problem"]["number"] == problem.number and payload["problem"]["incident_count"] == 2
    assert [i["number"] for i in payload["incidents"]] == [t.number for t in incidents]
    assert payload["actor"] == agent.email
    notice = notice_for("problem.created", payload)
    assert problem.number in notice.headline and notice.link.endswith(f"/problems/{problem.pk}/")


def test_linking_an_incident_is_delivered_once_and_linking_twice_sends_nothing(
    subscription, make_ticket, agent
):
    problem = actions.do_create_problem(actor=agent, title="Mail is slow")
    ticket = make_ticket("Outlook hangs")
    actions.do_link_incident(problem, ticket, actor=agent)
    actions.do_link_incident(problem, ticket, actor=agent)  # already linked: nothing changes
    linked = delivered("problem.incident_linked")
    assert len(linked) == 1
    assert linked[0]["incident"]["number"] == ticket.number and linked[0]["joined"] is False
    assert linked[0]["problem"]["incident_count"] == 1 and linked[0]["actor"] == agent.email
    # Unlinked, then linked again: a new fact, delivered again.
    actions.do_unlink_incident(problem, ticket, actor=agent)
    actions.do_link_incident(problem, ticket, actor=agent)
    assert len(delivered("problem.incident_linked")) == 2


def test_an_incident_joining_a_problem_by_detection_is_delivered_as_joined(subscription, make_ticket, agent):
    titles = [
        "VPN disconnects every hour",
        "VPN disconnects every few minutes",
        "VPN disconnects every hour again",
    ]
    problem = actions.do_create_problem(
        actor=agent, title="VPN drops", incidents=[make_ticket(title) for title in titles]
    )
    newcomer = make_ticket("VPN disconnects every hour on wifi")
    actions.do_join_similar_incidents()
    actions.do_join_similar_incidents()  # the second run joins nothing, sends nothing
    joined = delivered("problem.incident_linked")
    assert len(joined) == 1
    assert joined[0]["incident"]["number"] == newcomer.number and joined[0]["joined"] is True
    assert joined[0]["actor"] == "system:problems" and joined[0]["problem"]["incident_count"] == 4
    assert newcomer.number in notice_for("problem.incident_linked", joined[0]).headline
    assert problem.number in notice_for("problem.incident_linked", joined[0]).headline


def test_a_merge_is_delivered_once_naming_both_problems_and_the_incidents_moved(
    subscription, make_ticket, agent
):
    moved = make_ticket("Printer jams")
    source = actions.do_create_problem(actor=agent, title="Printer jams", incidents=[moved])
    into = actions.do_create_problem(actor=agent, title="Printers on floor 3")
    actions.do_merge_problems(source, into=into, actor=agent, reason="same cause")
    actions.do_merge_problems(source, into=into, actor=agent)  # merged already: nothing
    merged = delivered("problem.merged")
    assert len(merged) == 1
    assert merged[0]["problem"]["number"] == source.number and merged[0]["into"]["number"] == into.number
    assert [i["number"] for i in merged[0]["incidents"]] == [moved.number]
    assert merged[0]["into"]["incident_count"] == 1 and merged[0]["reason"] == "same cause"
    # The source's closing is told by the merge, not as a status change too.
    assert delivered("problem.status_changed") == []
    assert into.number in notice_for("problem.merged", merged[0]).headline


def test_each_move_is_delivered_once_and_a_resolution_also_as_resolved(subscription, agent):
    problem = actions.do_create_problem(actor=agent, title="Disk fills up")
    actions.do_transition_problem(problem, ProblemStatus.INVESTIGATING, actor=agent)
    actions.do_update_problem(problem, actor=agent, title="Disk fills up on db01")  # no move: nothing
    actions.do_transition_problem(problem, ProblemStatus.RESOLVED, actor=agent, fix="Log rotation added")
    moves = [(p["from"], p["to"]) for p in delivered("problem.status_changed")]
    assert moves == [("new", "investigating"), ("investigating", "resolved")]
    resolved = delivered("problem.resolved")
    assert len(resolved) == 1
    assert (
        resolved[0]["problem"]["fix"] == "Log rotation added"
        and resolved[0]["problem"]["status"] == "resolved"
    )
    notice = notice_for("problem.resolved", resolved[0])
    assert problem.number in notice.headline and notice.tone == "good"
    with translation.override("fr"):
        assert notice_for("problem.resolved", resolved[0]).headline == f"Problème {problem.number} résolu"


def test_a_refused_move_delivers_nothing(subscription, agent):
    from problems.models import IllegalProblemTransition

    problem = actions.do_create_problem(actor=agent, title="Disk fills up")
    with pytest.raises(IllegalProblemTransition):
        actions.do_transition_problem(problem, ProblemStatus.KNOWN_ERROR, actor=agent)  # no root cause
    assert delivered("problem.status_changed") == []


def test_a_detected_problem_is_delivered_as_detected_not_as_created(make_ticket, settings):
    WebhookSubscription.objects.create(name="n8n", url="http://127.0.0.1:9/hook", events=PROBLEM_EVENTS)
    settings.PROBLEM_AUTO_CREATE = True
    for title in [
        "VPN disconnects every hour",
        "VPN disconnects every few minutes",
        "VPN disconnects hourly",
    ]:
        make_ticket(title)
    actions.do_detect_recurrences()
    assert events() == ["problem.detected"]


def test_chat_channels_subscribed_to_problem_events_get_one_message_each(make_ticket, agent):
    ChatChannel.objects.create(
        name="#problems",
        kind=ChannelKind.SLACK,
        webhook_url="https://hooks.slack.com/services/T0/B0/x",
        events=["problem.created", "problem.resolved"],
    )
    problem = actions.do_create_problem(actor=agent, title="Disk fills up")
    actions.do_transition_problem(problem, ProblemStatus.RESOLVED, actor=agent, fix="Rotation")
    assert sorted(ChatMessage.objects.values_list("event", flat=True)) == [
        "problem.created",
        "problem.resolved",
    ]
