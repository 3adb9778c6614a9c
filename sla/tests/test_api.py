"""SLA API: clocks, sync (409/503/200), run and dry run, advisory risk, KPIs, policies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from itsm.models import AutomationEvent
from sla import sync
from sla.actions import apply_remote_clock
from sla.models import ClockSource, EscalationStep, SLAEvent, SLAPolicy, TicketSLA
from sla.sweep import run_sweep
from sla.tests.conftest import T0
from tickets.actions import do_add_comment, do_transition_ticket

pytestmark = pytest.mark.django_db


def critical(make_ticket, **fields):
    return make_ticket(impact="high", urgency="high", **fields)


def test_it_returns_both_clocks_with_status_words(make_ticket, agent, api_for, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=20)):
        body = api_for(agent).get(f"/api/sla/ticket/{ticket.pk}/").json()
    assert body["number"] == ticket.number
    clocks = {clock["metric"]: clock for clock in body["clocks"]}
    assert clocks["response"]["status"] == "breached"  # exact even before a sweep
    assert clocks["response"]["remaining_seconds"] == -5 * 60
    assert clocks["resolution"]["status"] == "ok"
    assert clocks["resolution"]["remaining_seconds"] == 100 * 60
    assert clocks["resolution"]["due_at"] == "2026-03-02T11:00:00Z"
    assert clocks["resolution"]["escalation_level"] == 0
    assert clocks["resolution"]["source"] == "local"
    assert clocks["resolution"]["policy"] == "Critical (default)"


def test_status_words_cover_paused_completed_and_unknown(make_ticket, agent, api_for, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
        do_add_comment(ticket, actor=agent, body="Hello")
    with clock_at(T0 + timedelta(minutes=5)):
        do_transition_ticket(ticket, "pending_vendor", actor=agent)
    with clock_at(T0 + timedelta(minutes=35)):
        clocks = {
            c["metric"]: c for c in api_for(agent).get(f"/api/sla/ticket/{ticket.pk}/").json()["clocks"]
        }
    assert clocks["response"]["status"] == "completed"
    assert clocks["resolution"]["status"] == "paused"
    assert clocks["resolution"]["paused_seconds"] == 30 * 60
    assert clocks["resolution"]["remaining_seconds"] == 115 * 60  # frozen at the pause
    SLAPolicy.objects.update(is_active=False)
    other = make_ticket(title="No policy")
    clocks = api_for(agent).get(f"/api/sla/ticket/{other.pk}/").json()["clocks"]
    assert [(c["metric"], c["status"], c["due_at"]) for c in clocks] == [
        ("response", "unknown", None),
        ("resolution", "unknown", None),
    ]


@pytest.mark.parametrize(("persona", "answered"), [("agent", True), ("requester", False)])
def test_a_reply_through_the_api_by_an_agent_stops_the_response_clock(
    request, make_ticket, agent, api_for, clock_at, policies, persona, answered
):
    with clock_at(T0):
        ticket = critical(make_ticket)  # 15 minutes to respond
    with clock_at(T0 + timedelta(minutes=5)):
        response = api_for(request.getfixturevalue(persona)).post(
            f"/api/tickets/{ticket.pk}/comments/", {"body": "Restarting the switch now."}, format="json"
        )
        assert response.status_code == 201
        clocks = {
            c["metric"]: c for c in api_for(agent).get(f"/api/sla/ticket/{ticket.pk}/").json()["clocks"]
        }
    assert clocks["response"]["status"] == ("completed" if answered else "ok")
    with clock_at(T0 + timedelta(minutes=20)):  # past the response target
        run_sweep(risk=False)
        clocks = {
            c["metric"]: c for c in api_for(agent).get(f"/api/sla/ticket/{ticket.pk}/").json()["clocks"]
        }
    breaches = SLAEvent.objects.filter(clock__ticket=ticket, clock__metric="response", kind="breach").count()
    assert (breaches, clocks["response"]["status"]) == ((0, "completed") if answered else (1, "breached"))


def test_it_reports_the_escalation_level_after_a_sweep(make_ticket, agent, api_for, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=16)):
        run_sweep(risk=False)
        clock = api_for(agent).get(f"/api/sla/ticket/{ticket.pk}/").json()["clocks"][0]
    assert (clock["metric"], clock["status"], clock["escalation_level"]) == ("response", "breached", 1)


def test_sla_reads_follow_ticket_visibility_and_roles(
    make_ticket, agent, other_agent, requester, viewer, api_for, team, policies
):
    ticket = make_ticket(sensitive=True, team=team)
    assert api_for(agent).get(f"/api/sla/ticket/{ticket.pk}/").status_code == 200
    assert api_for(other_agent).get(f"/api/sla/ticket/{ticket.pk}/").status_code == 404
    assert api_for(requester).get(f"/api/sla/ticket/{ticket.pk}/").status_code == 403
    open_ticket = make_ticket(title="Shared printer")
    assert api_for(viewer).get(f"/api/sla/ticket/{open_ticket.pk}/").status_code == 200
    assert api_for(agent).get("/api/sla/ticket/999999/").status_code == 404
    assert api_for(agent).post(f"/api/sla/ticket/{open_ticket.pk}/").status_code == 405


# --- sync -----------------------------------------------------------------------------------------------
@pytest.fixture
def provider_registry():
    saved = list(sync._providers)
    sync._providers.clear()
    yield sync
    sync._providers[:] = saved


def test_sync_answers_409_when_the_ticket_is_not_linked(
    make_ticket, agent, api_for, provider_registry, policies
):
    ticket = make_ticket()
    provider_registry.register_sync_provider(lambda ticket: None)
    before = list(TicketSLA.objects.values())
    response = api_for(agent).post(f"/api/sla/ticket/{ticket.pk}/sync/")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"{ticket.number} is not linked to an external system with SLA clocks (Jira); nothing to sync."
    )
    assert list(TicketSLA.objects.values()) == before


def test_sync_applies_the_linked_providers_clocks(
    make_ticket, agent, api_for, provider_registry, clock_at, policies
):
    with clock_at(T0):
        ticket = make_ticket(external_key="SUP-7")

    def jira(ticket):
        if not ticket.external_key:
            return None
        return [
            apply_remote_clock(ticket, metric="resolution", due_at=T0 + timedelta(hours=1), breached=False)
        ]

    provider_registry.register_sync_provider(lambda ticket: None)
    provider_registry.register_sync_provider(jira)
    provider_registry.register_sync_provider(jira)  # registering twice is once
    assert len(provider_registry.providers()) == 2
    with clock_at(T0 + timedelta(minutes=10)):
        response = api_for(agent).post(f"/api/sla/ticket/{ticket.pk}/sync/")
    assert response.status_code == 200
    body = response.json()
    assert body["synced"] == 1
    resolution = next(c for c in body["clocks"] if c["metric"] == "resolution")
    assert (resolution["source"], resolution["due_at"]) == ("jira", "2026-03-02T10:00:00Z")
    assert TicketSLA.objects.get(ticket=ticket, metric="resolution").source == ClockSource.JIRA
    assert AutomationEvent.objects.filter(actor="system:jira", action="sla.synced").count() == 1


def test_sync_answers_503_and_changes_nothing_when_the_remote_is_down(
    make_ticket, agent, api_for, provider_registry, policies
):
    ticket = make_ticket()

    def broken(ticket):
        apply_remote_clock(ticket, metric="resolution", due_at=ticket.created_at + timedelta(hours=1))
        raise sync.SyncUnavailable("Jira answered 502")

    provider_registry.register_sync_provider(broken)
    before = list(TicketSLA.objects.values())
    response = api_for(agent).post(f"/api/sla/ticket/{ticket.pk}/sync/")
    assert response.status_code == 503
    assert "Jira answered 502" in response.json()["detail"]
    assert list(TicketSLA.objects.values()) == before


def test_sync_needs_an_agent(make_ticket, viewer, api_for, provider_registry, policies):
    ticket = make_ticket()
    assert api_for(viewer).post(f"/api/sla/ticket/{ticket.pk}/sync/").status_code == 403


# --- run ------------------------------------------------------------------------------------------------
def test_run_dry_run_reports_without_changing(make_ticket, agent, api_for, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=16)):
        response = api_for(agent).post("/api/sla/run/", {"dry_run": True}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["dry_run"], body["breaches"], body["escalations"]) == (True, 1, 1)
    assert body["actions"][0] == {
        "action": "breach",
        "ticket_id": ticket.pk,
        "ticket_number": ticket.number,
        "metric": "response",
        "clock_id": TicketSLA.objects.get(ticket=ticket, metric="response").pk,
        "due_at": "2026-03-02T09:15:00+00:00",
        "level": 0,
        "step": "",
    }
    assert TicketSLA.objects.get(ticket=ticket, metric="response").state == "on_track"


def test_a_real_run_needs_an_admin_and_acts(make_ticket, agent, admin_user, api_for, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    with clock_at(T0 + timedelta(minutes=16)):
        assert api_for(agent).post("/api/sla/run/", {"dry_run": False}, format="json").status_code == 403
        assert TicketSLA.objects.get(ticket=ticket, metric="response").state == "on_track"
        body = api_for(admin_user).post("/api/sla/run/", {}, format="json").json()
    assert (body["dry_run"], body["breaches"]) == (False, 1)
    assert TicketSLA.objects.get(ticket=ticket, metric="response").state == "breached"


def test_run_refuses_bad_input(agent, api_for, viewer, requester):
    response = api_for(agent).post("/api/sla/run/", {"dry_run": "perhaps"}, format="json")
    assert response.status_code == 400
    assert "dry_run" in response.json()
    assert api_for(viewer).post("/api/sla/run/", {"dry_run": True}, format="json").status_code == 403
    assert api_for(requester).post("/api/sla/run/", {"dry_run": True}, format="json").status_code == 403
    assert api_for(agent).get("/api/sla/run/").status_code == 405


# --- advisory risk ---------------------------------------------------------------------------------------------
def test_the_latest_risk_evaluation(make_ticket, agent, api_for, clock_at, policies):
    with clock_at(T0):
        ticket = critical(make_ticket)
    assert api_for(agent).get(f"/api/sla/ticket/{ticket.pk}/ai-risk/latest/").status_code == 404
    with clock_at(T0 + timedelta(minutes=100)):
        run_sweep()
    body = api_for(agent).get(f"/api/sla/ticket/{ticket.pk}/ai-risk/latest/").json()
    assert body["ticket"] == ticket.pk
    assert body["band"] == "high"
    assert body["mode"] == "shadow"
    assert body["model_version"] == "heuristic-v1"
    assert body["suggested_priority"] == "critical"
    assert "83% of the resolution target used" in body["reasoning"]


# --- stats ----------------------------------------------------------------------------------------------------
def test_stats_give_breach_rates_per_metric_and_priority(
    make_ticket, agent, api_for, clock_at, policies, django_assert_max_num_queries
):
    with clock_at(T0):
        late = critical(make_ticket, title="Late")
        quick = critical(make_ticket, title="Quick")
        make_ticket(title="Medium, running")
    with clock_at(T0 + timedelta(minutes=5)):
        do_add_comment(quick, actor=agent, body="On it")
    with clock_at(T0 + timedelta(minutes=30)):
        do_add_comment(late, actor=agent, body="Sorry")
        do_transition_ticket(quick, "resolved", actor=agent, resolution="done")
    client = api_for(agent)
    with django_assert_max_num_queries(6):
        body = client.get("/api/sla/stats/").json()
    assert body["first_response"] == {
        "clocks": 3,
        "with_outcome": 2,
        "breached": 1,
        "met": 1,
        "breach_rate": 0.5,
    }
    assert body["resolution"] == {"clocks": 3, "with_outcome": 1, "breached": 0, "met": 1, "breach_rate": 0.0}
    assert body["by_priority"]["critical"]["first_response"]["breach_rate"] == 0.5
    assert body["by_priority"]["low"]["resolution"]["breach_rate"] is None
    assert client.get("/api/sla/stats/?since=2026-03-03").json()["first_response"]["clocks"] == 0


def test_stats_refuse_bad_dates(agent, api_for, requester):
    response = api_for(agent).get("/api/sla/stats/?since=yesterday")
    assert response.status_code == 400
    assert "since" in response.json()
    response = api_for(agent).get("/api/sla/stats/?since=2026-03-05&until=2026-03-01")
    assert response.status_code == 400
    assert api_for(requester).get("/api/sla/stats/").status_code == 403


# --- policies --------------------------------------------------------------------------------------------------
def policy_payload(**overrides):
    payload = {
        "name": "VIP critical",
        "priority": "critical",
        "ticket_type": "incident",
        "response_minutes": 10,
        "resolution_minutes": 60,
        "warning_threshold_percent": 20,
        "escalation_steps": [
            {"position": 1, "after_minutes": 0, "action": "notify_team_lead"},
            {"position": 2, "after_minutes": 30, "action": "raise_priority"},
        ],
    }
    payload.update(overrides)
    return payload


def test_admins_create_a_policy_with_its_chain(admin_user, api_for, calendar_24x7, policies):
    response = api_for(admin_user).post("/api/sla/policies/", policy_payload(), format="json")
    assert response.status_code == 201, response.json()
    policy = SLAPolicy.objects.get(name="VIP critical")
    assert policy.calendar == calendar_24x7
    assert list(policy.escalation_steps.values_list("position", "action")) == [
        (1, "notify_team_lead"),
        (2, "raise_priority"),
    ]
    response = api_for(admin_user).patch(
        f"/api/sla/policies/{policy.pk}/", {"response_minutes": 5}, format="json"
    )
    assert response.status_code == 200, response.json()
    policy.refresh_from_db()
    assert policy.response_minutes == 5
    assert policy.escalation_steps.count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"resolution_minutes": 5}, "resolution_minutes"),
        ({"response_minutes": 0}, "response_minutes"),
        ({"warning_threshold_percent": 100}, "warning_threshold_percent"),
        ({"priority": "urgent"}, "priority"),
        ({"ticket_type": ""}, "priority"),  # the same criteria as the active default policy
        (
            {"escalation_steps": [{"position": 1, "after_minutes": 0, "action": "notify_role"}]},
            "escalation_steps",
        ),
        (
            {
                "escalation_steps": [
                    {"position": 1, "after_minutes": 30, "action": "notify_team_lead"},
                    {"position": 2, "after_minutes": 10, "action": "raise_priority"},
                ]
            },
            "escalation_steps",
        ),
        (
            {
                "escalation_steps": [
                    {"position": 1, "after_minutes": 0, "action": "notify_team_lead"},
                    {"position": 1, "after_minutes": 0, "action": "raise_priority"},
                ]
            },
            "escalation_steps",
        ),
        ({"calendar": 999999}, "calendar"),
    ],
)
def test_bad_policy_input_is_refused_with_field_errors(admin_user, api_for, policies, payload, field):
    before = (SLAPolicy.objects.count(), EscalationStep.objects.count())
    response = api_for(admin_user).post("/api/sla/policies/", policy_payload(**payload), format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert (SLAPolicy.objects.count(), EscalationStep.objects.count()) == before


def test_agents_read_policies_but_only_admins_change_them(agent, viewer, requester, api_for, policies):
    assert api_for(agent).get("/api/sla/policies/").status_code == 200
    assert api_for(viewer).get("/api/sla/policies/").status_code == 200
    assert api_for(requester).get("/api/sla/policies/").status_code == 403
    assert api_for(agent).post("/api/sla/policies/", policy_payload(), format="json").status_code == 403
    assert not SLAPolicy.objects.filter(name="VIP critical").exists()
