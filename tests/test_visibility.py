"""Every place that shows tickets through another object follows the ticket visibility rule.

A sensitive ticket of the Service Desk team (``secret``) and an ordinary one (``ordinary``,
the requester's own) are walked through each surface as an agent of another team, a viewer
and a requester: none of them ever reads the sensitive ticket's number or title there. The
Service Desk agent, who may see it, is the control that the surface does show it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from ai.knowledge.indexing import do_index_source
from ai.knowledge.models import SourceType
from ai.knowledge.replies import draft_reply
from ai.tests.fixtures import minilm  # noqa: F401 - the local embeddings model, loaded once
from ai.triage.training import resolved_rows
from integrations.chat.models import ChannelKind, ChatChannel, ChatMessage
from integrations.webhooks.events import Event
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from itsm.models import Notification
from problems import actions as problem_actions
from problems.models import Problem
from sla.defaults import ensure_defaults
from tickets import actions
from tickets.actions.csat import survey_token
from tickets.models import SatisfactionSurvey, Watcher

pytestmark = pytest.mark.django_db

OUTSIDERS = ["other_agent", "viewer", "requester"]
SECRET_TITLE = "Payroll export leaked salaries of the finance team"


@pytest.fixture(params=OUTSIDERS)
def outsider(request):
    """Each persona who may not see the sensitive ticket."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def secret(make_ticket, agent, team, other_requester):
    return make_ticket(
        SECRET_TITLE,
        description="Salary lines of 40 people were mailed outside.",
        sensitive=True,
        team=team,
        requester=other_requester,
        actor=agent,
    )


@pytest.fixture
def ordinary(make_ticket, agent, team, requester):
    return make_ticket("Printer on floor 3 is jammed", team=team, requester=requester, actor=agent)


def leaks(text: str, ticket) -> bool:
    return ticket.number in text or ticket.title in text


# --- problems ------------------------------------------------------------------------------
@pytest.fixture
def problem(agent, secret, ordinary):
    return problem_actions.do_create_problem(
        actor=agent, title="Finance systems unstable", incidents=[secret, ordinary]
    )


def test_the_problem_page_lists_only_incidents_the_reader_may_see(
    client, outsider, agent, problem, secret, ordinary
):
    url = reverse("problems:problem-detail", args=[problem.pk])
    client.force_login(agent)
    page = client.get(url).content.decode()
    assert secret.title in page and ordinary.number in page
    client.force_login(outsider)
    response = client.get(url)
    if outsider.is_requester:
        assert response.status_code == 404
        return
    page = response.content.decode()
    assert response.status_code == 200
    assert ordinary.number in page and not leaks(page, secret)
    assert "1 more incident that you may not see." in page


def test_the_problems_api_lists_only_incidents_the_caller_may_see(
    api_for, outsider, agent, problem, secret, ordinary
):
    mine = api_for(agent).get(f"/api/problems/{problem.pk}/").json()
    assert mine["incidents"] == [secret.number, ordinary.number]
    client = api_for(outsider)
    detail = client.get(f"/api/problems/{problem.pk}/")
    listing = client.get("/api/problems/")
    if outsider.is_requester:
        assert (detail.status_code, listing.status_code) == (403, 403)
        return
    assert detail.json()["incidents"] == [ordinary.number]
    assert detail.json()["recurrence_count"] == 2  # a count names no ticket
    assert listing.json()["results"][0]["incidents"] == [ordinary.number]
    assert not leaks(detail.content.decode() + listing.content.decode(), secret)


VPN_TITLES = [
    "VPN disconnects every hour",
    "VPN disconnects every few minutes",
    "VPN disconnects every hour again",
    "VPN disconnects every hour on wifi",
]


def test_sensitive_incidents_never_seed_name_or_join_a_detected_problem(
    make_ticket, agent, team, other_agent, api_for
):
    first = make_ticket(f"{VPN_TITLES[0]} for the CFO", sensitive=True, team=team, actor=agent)
    ordinary = [make_ticket(VPN_TITLES[index]) for index in (0, 2, 3)]
    dry = api_for(other_agent).post("/api/problems/detect/", {"dry_run": True}, format="json")
    assert dry.status_code == 200
    (cluster,) = dry.json()["clusters"]
    assert cluster["tickets"] == [ticket.number for ticket in ordinary]
    assert not leaks(dry.content.decode(), first)

    report = problem_actions.do_detect_recurrences()
    problem = Problem.objects.get(detected=True)
    assert report[0]["problem"] == problem.number
    assert problem.title == f"Recurring: {ordinary[0].title}"
    assert first.number not in problem.description
    assert not problem.links.filter(ticket=first).exists()


def test_sensitive_incidents_alone_open_no_problem(make_ticket, agent, team):
    for title in VPN_TITLES[:3]:
        make_ticket(title, sensitive=True, team=team, actor=agent)
    assert problem_actions.do_detect_recurrences(dry_run=True) == []
    assert problem_actions.do_detect_recurrences() == []
    assert not Problem.objects.exists()


def test_a_candidate_never_names_an_incident_made_sensitive_since(
    make_ticket, agent, team, other_agent, api_for, client, settings
):
    settings.PROBLEM_AUTO_CREATE = False
    incidents = [make_ticket(title) for title in VPN_TITLES[:3]]
    problem_actions.do_detect_recurrences()
    hidden = incidents[1]
    type(hidden).objects.filter(pk=hidden.pk).update(sensitive=True, team=team)
    listing = api_for(other_agent).get("/api/problems/candidates/")
    assert listing.status_code == 200
    assert listing.json()["results"][0]["incidents"] == [incidents[0].number, incidents[2].number]
    assert not leaks(listing.content.decode(), hidden)
    client.force_login(other_agent)
    assert hidden.number not in client.get(reverse("problems:candidate-list")).content.decode()
    candidate_id = listing.json()["results"][0]["id"]
    promoted = api_for(other_agent).post(f"/api/problems/candidates/{candidate_id}/promote/")
    assert promoted.status_code == 201
    assert not Problem.objects.get().links.filter(ticket=hidden).exists()  # never joins a problem


def test_detection_is_for_agents(api_for, viewer, requester):
    for user in (viewer, requester):
        assert (
            api_for(user).post("/api/problems/detect/", {"dry_run": True}, format="json").status_code == 403
        )


# --- changes -------------------------------------------------------------------------------
def test_a_change_lists_only_incidents_the_reader_may_see(client, api_for, outsider, agent, secret, ordinary):
    from changes.actions import do_create_change

    change = do_create_change(actor=agent, title="Replace the finance switch", incidents=[secret, ordinary])
    assert api_for(agent).get(f"/api/changes/{change.pk}/").json()["incidents"] == sorted(
        [secret.number, ordinary.number]
    )
    api = api_for(outsider)
    detail = api.get(f"/api/changes/{change.pk}/")
    listing = api.get("/api/changes/")
    client.force_login(outsider)
    page = client.get(reverse("changes:change-detail", args=[change.pk]))
    if outsider.is_requester:
        assert (detail.status_code, listing.status_code, page.status_code) == (403, 403, 404)
        return
    assert detail.json()["incidents"] == [ordinary.number]
    assert not leaks(detail.content.decode() + listing.content.decode() + page.content.decode(), secret)


# --- relations -----------------------------------------------------------------------------
def test_relations_show_only_tickets_the_reader_may_see(client, api_for, outsider, agent, secret, ordinary):
    actions.do_add_relation(ordinary, target=secret, kind="related", actor=agent)
    client.force_login(agent)
    assert secret.title in client.get(reverse("tickets:ticket-detail", args=[ordinary.pk])).content.decode()
    assert [
        r["ticket"]["number"] for r in api_for(agent).get(f"/api/tickets/{ordinary.pk}/relations/").json()
    ] == [secret.number]
    client.force_login(outsider)
    page = client.get(reverse("tickets:ticket-detail", args=[ordinary.pk]), follow=True).content.decode()
    assert ordinary.title in page and not leaks(page, secret)
    relations = api_for(outsider).get(f"/api/tickets/{ordinary.pk}/relations/")
    assert relations.status_code == 200 and relations.json() == []


# --- similar tickets, search, smart-reply sources -------------------------------------------
@pytest.fixture
def resolved_pair(make_ticket, agent, team, minilm):  # noqa: F811
    """A sensitive and an ordinary resolved ticket about the same thing, both offered to the index."""

    def resolve(ticket):
        actions.do_transition_ticket(ticket, "resolved", actor=agent, resolution="Re-synced the VPN token.")
        do_index_source(SourceType.TICKET, ticket.pk)
        return ticket

    hidden = resolve(
        make_ticket(
            "VPN token rejected on the HR director laptop",
            description="VPN authentication failed for the HR director.",
            sensitive=True,
            team=team,
            actor=agent,
        )
    )
    shown = resolve(
        make_ticket("VPN token rejected", description="VPN authentication failed after a password change.")
    )
    return hidden, shown


def test_similar_tickets_search_and_reply_sources_leave_sensitive_tickets_out(
    client, api_for, outsider, agent, make_ticket, resolved_pair
):
    hidden, shown = resolved_pair
    asking = make_ticket(
        "VPN authentication failed", description="VPN token rejected since this morning.", actor=agent
    )
    search = api_for(outsider).post(
        "/api/ai/search/", {"query": "VPN token rejected HR director"}, format="json"
    )
    assert search.status_code == 200 and not leaks(search.content.decode(), hidden)
    client.force_login(outsider)
    panel = client.get(reverse("ai:kb-ticket-similar", args=[asking.pk]))
    if outsider.is_requester:
        assert panel.status_code in (403, 404)
        return
    assert not leaks(panel.content.decode(), hidden)
    if outsider.is_agent:
        assert shown.number in panel.content.decode()  # the panel does show what may be seen
        draft = draft_reply(asking, actor=outsider)
        assert hidden.pk not in {citation.source_id for citation in draft.citations}
        assert not leaks(draft.text, hidden)


# --- notifications -------------------------------------------------------------------------
def test_people_who_may_not_see_a_ticket_hear_nothing_about_it(
    client, agent, other_agent, viewer, requester, other_requester, make_ticket, team
):
    ticket = make_ticket("Laptop screen flickers", team=team, requester=other_requester, actor=agent)
    for user in (other_agent, viewer, requester):
        Watcher.objects.get_or_create(ticket=ticket, user=user)
    actions.do_update_ticket(ticket, actor=agent, fields={"sensitive": True, "title": SECRET_TITLE})
    actions.do_add_comment(
        ticket, actor=agent, body="Escalating, @carol.agent@example.com and @Vic Viewer please look."
    )
    actions.do_add_comment(ticket, actor=agent, body="Internal details.", internal=True)
    for user in (other_agent, viewer, requester):
        assert not Notification.objects.filter(recipient=user, subject_id=str(ticket.pk)).exists()
        client.force_login(user)
        page = client.get(reverse("itsm:notification-list")).content.decode()
        assert SECRET_TITLE not in page and ticket.number not in page


# --- exports -------------------------------------------------------------------------------
def test_exports_leave_out_tickets_the_requester_of_the_export_may_not_see(
    agent, other_agent, requester, secret, ordinary, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    for user, expected in ((agent, {secret.number, ordinary.number}), (other_agent, {ordinary.number})):
        job = actions.do_request_export(actor=user, format="csv", filters={})
        actions.do_build_export(job.pk)
        job.refresh_from_db()
        rows = list(csv.DictReader(io.StringIO(job.file.read().decode())))
        assert {row["number"] for row in rows} == expected
    job = actions.do_request_export(actor=requester, format="json", filters={})
    actions.do_build_export(job.pk)
    job.refresh_from_db()
    assert [row["number"] for row in json.loads(job.file.read())] == [ordinary.number]


# --- SLA dry run ---------------------------------------------------------------------------
def test_the_sla_dry_run_lists_only_tickets_the_caller_may_see(
    make_ticket, agent, other_agent, team, api_for
):
    ensure_defaults()  # the default policies (a transactional test elsewhere may have flushed them)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        hidden = make_ticket(
            SECRET_TITLE, impact="high", urgency="high", sensitive=True, team=team, actor=agent
        )
        shown = make_ticket("Core switch down", impact="high", urgency="high", team=team, actor=agent)
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        mine = api_for(agent).post("/api/sla/run/", {"dry_run": True}, format="json").json()
        theirs = api_for(other_agent).post("/api/sla/run/", {"dry_run": True}, format="json")
    assert {action["ticket_number"] for action in mine["actions"]} == {hidden.number, shown.number}
    assert {action["ticket_number"] for action in theirs.json()["actions"]} == {shown.number}
    assert theirs.json()["breaches"] == mine["breaches"]  # the counts name no ticket
    assert not leaks(theirs.content.decode(), hidden)


# --- triage reasoning ----------------------------------------------------------------------
def test_triage_models_never_learn_from_sensitive_tickets(make_ticket, agent, team, secret, ordinary):
    for ticket in (secret, ordinary):
        actions.do_transition_ticket(ticket, "resolved", actor=agent, resolution="Done.")
    rows, _newest = resolved_rows()
    assert [row.number for row in rows] == [ordinary.number]


# --- outbound webhooks and chat cards (no user: the rule is "no text of a sensitive ticket") --
def test_webhooks_and_chat_carry_no_text_of_a_sensitive_ticket(make_ticket, agent, team):
    WebhookSubscription.objects.create(
        name="n8n", url="http://127.0.0.1:9/hook", events=[str(event) for event in Event]
    )
    channel = ChatChannel.objects.create(
        name="#ops", kind=ChannelKind.SLACK, webhook_url="https://hooks.slack.com/services/T0/B0/x"
    )
    ticket = make_ticket(
        SECRET_TITLE,
        description="Salary lines were mailed outside.",
        impact="high",
        urgency="high",
        tags=["payroll-leak"],
        sensitive=True,
        team=team,
        actor=agent,
    )
    actions.do_add_comment(ticket, actor=agent, body="Salary lines of 40 people.", internal=True)
    deliveries = list(WebhookDelivery.objects.all())
    assert {delivery.event for delivery in deliveries} >= {
        "ticket.created",
        "ticket.critical",
        "comment.added",
    }
    for delivery in deliveries:
        payload = delivery.payload["ticket"]
        assert (payload["number"], payload["sensitive"], payload["title"]) == (ticket.number, True, "")
        assert payload["tags"] == [] and payload["description"] == ""
        assert "Salary" not in json.dumps(delivery.payload) and SECRET_TITLE not in json.dumps(
            delivery.payload
        )
    (card,) = ChatMessage.objects.filter(channel=channel)
    text = json.dumps(card.body)
    assert ticket.number in text and SECRET_TITLE not in text and "Sensitive ticket" in text
    # An ordinary ticket keeps its title in both.
    shown = make_ticket("Core switch down", impact="high", urgency="high", actor=agent)
    assert (
        WebhookDelivery.objects.filter(event="ticket.created")
        .order_by("pk")
        .last()
        .payload["ticket"]["title"]
        == shown.title
    )
    assert shown.title in json.dumps(ChatMessage.objects.filter(channel=channel).order_by("pk").last().body)


# --- runbooks ----------------------------------------------------------------------------------
def test_runbook_executions_show_only_on_tickets_the_reader_may_see(
    client, api_for, outsider, agent, admin_user, secret
):
    from cmdb.actions import do_create_item, do_link_ticket_item
    from runbooks import actions as runbook_actions

    item = do_create_item(actor=None, name="payroll01", type="server")
    do_link_ticket_item(secret, item, actor=agent)
    runbook = runbook_actions.do_create_runbook(
        actor=admin_user,
        name="Check payroll",
        version={"steps": [{"name": "Look", "type": "manual"}], "match": {"keywords": ["payroll"]}},
    )
    runbook_actions.do_publish_runbook(runbook, actor=admin_user)
    execution = runbook_actions.do_request_execution(secret, runbook, actor=agent)
    surfaces = [
        ("api", f"/api/runbooks/executions/?runbook={runbook.pk}"),
        ("api", f"/api/runbooks/executions/{execution.pk}/"),
        ("page", reverse("runbooks:execution-detail", args=[execution.pk])),
        ("page", reverse("runbooks:item-executions", args=[item.pk])),
        ("page", reverse("runbooks:ticket-panel", args=[secret.pk])),
    ]
    client.force_login(agent)
    assert leaks(client.get(surfaces[2][1]).content.decode(), secret)
    assert leaks(client.get(surfaces[3][1]).content.decode(), secret)
    assert api_for(agent).get(surfaces[0][1]).json()["count"] == 1
    client.force_login(outsider)
    for kind, url in surfaces:
        response = api_for(outsider).get(url) if kind == "api" else client.get(url)
        assert response.status_code in (200, 403, 404), url
        assert not leaks(response.content.decode(), secret), url


# --- copilot ------------------------------------------------------------------------------------
COPILOT_QUESTIONS = [
    "tickets about payroll",
    "Tell me about {number}",
    "SLA of {number}",
    "tickets similar to {number}",
    "How did we fix the payroll export?",
    "open tickets in Service Desk",
    "assign {number} to Bob",
]


def test_the_copilot_answers_as_the_asker_and_never_names_a_ticket_they_may_not_see(
    api_for, outsider, agent, secret, ordinary
):
    def ask(user, question):
        response = api_for(user).post(
            "/api/ai/copilot/", {"question": question.format(number=secret.number)}, format="json"
        )
        assert response.status_code == 201
        return response.json()

    for question in COPILOT_QUESTIONS:
        body = ask(outsider, question)
        assert SECRET_TITLE not in json.dumps(body), question
        assert secret.pk not in {c["id"] for c in body["citations"] if c["type"] == "ticket"}, question
        assert body["proposals"] == [], question
    # The control: the Service Desk agent is answered about it.
    assert SECRET_TITLE in ask(agent, "tickets about payroll")["answer"]
    assert ask(agent, "assign {number} to Bob")["proposals"]


def test_a_quick_fix_never_cites_a_ticket_its_reader_may_not_see(
    api_for, make_ticket, agent, other_agent, team, other_team, secret
):
    actions.do_transition_ticket(secret, "resolved", actor=agent, resolution="Revoked the payroll share.")
    mine = make_ticket("Payroll export leaked salaries again", team=other_team, actor=other_agent)
    for reader, shown in ((other_agent, False), (agent, True)):
        body = api_for(reader).get(f"/api/ai/tickets/{mine.pk}/quick-fix/").json()
        cited = {source["id"] for source in body["sources"] if source["type"] == "ticket"}
        assert (secret.pk in cited) is shown, reader
        assert ("Revoked the payroll share." in body["steps"]) is shown, reader


# --- agent productivity: macros ------------------------------------------------------------------------
def test_macros_render_and_apply_only_on_tickets_the_agent_may_see(client, api_for, outsider, agent, secret):
    macro = actions.do_save_macro(
        None, {"name": "Hello", "body": "About {{ ticket.number }}: {{ ticket.title }}"}, actor=agent
    )
    client.force_login(outsider)
    preview = client.get(reverse("tickets:macro-preview", args=[secret.pk]), {"macro": macro.pk})
    assert preview.status_code in (302, 403, 404) and not leaks(preview.content.decode(), secret)
    applied = api_for(outsider).post(
        f"/api/tickets/{secret.pk}/apply-macro/", {"macro": macro.pk}, format="json"
    )
    assert applied.status_code in (403, 404) and not leaks(applied.content.decode(), secret)
    assert not secret.comments.exists()
    client.force_login(agent)
    shown = client.get(reverse("tickets:macro-preview", args=[secret.pk]), {"macro": macro.pk})
    assert shown.status_code == 200 and leaks(shown.content.decode(), secret)


def test_merging_never_reveals_or_moves_a_ticket_the_agent_may_not_see(
    client, api_for, outsider, agent, secret, ordinary
):
    client.force_login(outsider)
    page = client.get(reverse("tickets:ticket-merge", args=[ordinary.pk]), {"sources": secret.number})
    # the number typed is echoed back as "no ticket you may see", exactly as for one that does not exist
    assert page.status_code in (302, 400, 403, 404) and secret.title not in page.content.decode()
    response = api_for(outsider).post(
        f"/api/tickets/{ordinary.pk}/merge/", {"sources": [secret.number], "preview": True}, format="json"
    )
    assert response.status_code in (400, 403, 404) and secret.title not in response.content.decode()
    assert secret.comments.count() == 0 and not secret.relations_out.exists()
    client.force_login(agent)
    shown = client.get(reverse("tickets:ticket-merge", args=[ordinary.pk]), {"sources": secret.number})
    assert shown.status_code == 200 and leaks(shown.content.decode(), secret)


def test_time_logged_on_a_ticket_shows_only_to_those_who_may_see_it(client, api_for, outsider, agent, secret):
    actions.do_log_work(secret, actor=agent, minutes=45, note="Called payroll")
    response = api_for(outsider).get(f"/api/tickets/{secret.pk}/worklogs/")
    assert response.status_code in (403, 404) and "Called payroll" not in response.content.decode()
    client.force_login(outsider)
    report = client.get(reverse("tickets:time-report"), {"group": "ticket"})
    assert not leaks(report.content.decode(), secret)
    client.force_login(agent)
    shown = client.get(reverse("tickets:time-report"), {"group": "ticket"})
    assert leaks(shown.content.decode(), secret)


def test_the_survey_link_reveals_only_the_number_and_title(client, agent, secret):
    actions.do_transition_ticket(secret, "resolved", actor=agent, resolution="Access revoked for 40 people")
    survey = SatisfactionSurvey.objects.get(ticket=secret)
    html = client.get(reverse("tickets:survey", args=[survey_token(survey)])).content.decode()
    assert secret.number in html  # the link's holder is its requester
    assert "Salary lines" not in html and "Access revoked" not in html and "Service Desk" not in html


def test_the_ticket_picker_and_link_form_never_offer_a_hidden_ticket(
    client, outsider, agent, secret, ordinary
):
    client.force_login(outsider)
    picked = client.get(reverse("tickets:ticket-picker"), {"q": "Payroll"})
    assert not leaks(picked.content.decode(), secret)
    linked = client.post(
        reverse("tickets:relation-add", args=[ordinary.pk]), {"target": secret.number, "kind": "related"}
    )
    assert linked.status_code in (302, 400, 403) and secret.title not in linked.content.decode()
    assert not secret.relations_in.exists()
    client.force_login(agent)
    assert leaks(client.get(reverse("tickets:ticket-picker"), {"q": "Payroll"}).content.decode(), secret)
