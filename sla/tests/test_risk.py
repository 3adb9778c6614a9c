"""Advisory breach risk: heuristic on little history, a model trained on the history, never acting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sla import risk
from sla.models import SLAEvent, SLARiskEvaluation, SLARiskModel, TicketSLA
from sla.sweep import run_sweep
from sla.tests.conftest import T0
from tickets.actions import do_add_comment, do_transition_ticket

pytestmark = pytest.mark.django_db


def snapshot(**overrides) -> risk.Snapshot:
    values = {
        "priority": "medium",
        "ticket_type": "incident",
        "category_id": None,
        "tier_factor": 1.0,
        "elapsed": 0.5,
        "responded": True,
        "assigned": True,
        "reopens": 0,
        "team_load": 3,
    }
    values.update(overrides)
    return risk.Snapshot(**values)


def test_the_heuristic_explains_its_score():
    calm = risk.heuristic(snapshot(elapsed=0.1))
    worried = risk.heuristic(snapshot(elapsed=0.9, responded=False, assigned=False, reopens=2, team_load=40))
    assert calm.band == "low" and worried.band == "high"
    assert worried.suggested_priority == "high" and calm.suggested_priority == "medium"
    assert worried.model_version == "heuristic-v1"
    for phrase in (
        "90% of the resolution target used",
        "no first response yet",
        "nobody is assigned",
        "reopened 2 time(s)",
        "the team has 40 open tickets",
    ):
        assert phrase in worried.reasoning
    assert 0 <= calm.score < worried.score <= 1


def test_training_waits_for_enough_history(make_ticket, policies):
    result = risk.train_model()
    assert not result.trained
    assert "Not enough history" in result.message
    assert not SLARiskModel.objects.exists()


def make_history(make_ticket, agent, clock_at, count: int) -> None:
    """Medium tickets (8 h resolution): the assigned, answered ones resolved in 7 h (met);
    the unassigned, unanswered ones in 10 h (breached)."""
    for n in range(count):
        start = T0 + timedelta(hours=n)
        met = n % 2 == 0
        with clock_at(start):
            ticket = make_ticket(title=f"History {n}", assignee=agent if met else None)
            if met:
                do_add_comment(ticket, actor=agent, body="On it")
        with clock_at(start + timedelta(hours=7 if met else 10)):
            do_transition_ticket(ticket, "resolved", actor=agent, resolution="done")


def test_a_model_trained_on_the_history_scores_and_explains(make_ticket, agent, clock_at, policies):
    make_history(make_ticket, agent, clock_at, 24)
    assert TicketSLA.objects.filter(metric="resolution", breached_at__isnull=False).count() == 12
    rows, labels = risk.training_rows()
    assert len(rows) == 72 and sum(labels) == 36
    result = risk.train_model(now=T0 + timedelta(days=3), min_samples=50)
    assert result.trained, result.message
    model = SLARiskModel.objects.get()
    assert model.version.startswith("logreg-") and model.samples == 72 and model.positives == 36
    assert model.feature_names == risk.FEATURES and len(model.coefficients) == len(risk.FEATURES)
    assert model.metrics["auc"] == 1.0
    worried = risk.model_score(model, snapshot(elapsed=0.5, responded=False, assigned=False))
    calm = risk.model_score(model, snapshot(elapsed=0.5, responded=True, assigned=True))
    assert worried.score > 0.7 > 0.3 > calm.score
    assert worried.model_version == model.version
    assert "raises the risk" in worried.reasoning
    assert "50% of the resolution target used" in worried.reasoning


def test_the_sweep_records_evaluations_once_per_interval_and_never_acts(
    make_ticket, agent, clock_at, settings, policies
):
    settings.SLA_RISK_MODE = "assist"
    with clock_at(T0):
        ticket = make_ticket()  # medium: 8 h
        do_add_comment(ticket, actor=agent, body="Looking")
    with clock_at(T0 + timedelta(hours=7, minutes=40)):
        assert run_sweep().risk_evaluations == 1
        assert run_sweep().risk_evaluations == 0  # evaluated within the interval
    evaluation = SLARiskEvaluation.objects.get()
    assert (evaluation.band, evaluation.suggested_priority, evaluation.mode) == ("high", "high", "assist")
    assert evaluation.features["elapsed"] == pytest.approx(0.9583, abs=1e-3)
    ticket.refresh_from_db()
    assert ticket.priority == "medium"  # advice only
    assert not SLAEvent.objects.filter(kind="escalation").exists()
    with clock_at(T0 + timedelta(hours=8, minutes=41)):
        run_sweep()
    assert SLARiskEvaluation.objects.count() == 2


def test_stopped_clocks_are_not_evaluated(make_ticket, agent, clock_at, policies):
    with clock_at(T0):
        ticket = make_ticket()
        do_transition_ticket(ticket, "resolved", actor=agent, resolution="done")
        assert run_sweep().risk_evaluations == 0


def test_the_trained_model_replaces_the_heuristic_in_the_sweep(make_ticket, agent, clock_at, policies):
    make_history(make_ticket, agent, clock_at, 12)
    assert risk.train_model(now=T0 + timedelta(days=2), min_samples=20).trained
    with clock_at(T0 + timedelta(days=2)):
        ticket = make_ticket(title="Fresh")
        run_sweep()
    evaluation = SLARiskEvaluation.objects.get(ticket=ticket)
    assert evaluation.model_version.startswith("logreg-")
