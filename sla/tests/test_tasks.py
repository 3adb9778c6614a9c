"""The worker runs the sweep every minute (and trains the risk model nightly)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from procrastinate.contrib.django import app

from sla.models import SLAEvent, TicketSLA
from sla.tasks import sla_sweep
from sla.tests.conftest import T0


def test_the_sweep_and_the_training_are_periodic():
    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["sla-sweep"].cron == "* * * * *"
    assert periodic["sla-train-risk"].cron == "17 3 * * *"
    assert sla_sweep.queueing_lock == "sla-sweep"


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_sweep(make_ticket, clock_at, run_worker, policies):
    with clock_at(T0):
        ticket = make_ticket(impact="high", urgency="high")
    with clock_at(T0 + timedelta(minutes=16)):
        sla_sweep.defer()
        run_worker(queues=["sla"])
    assert TicketSLA.objects.get(ticket=ticket, metric="response").state == "breached"
    assert SLAEvent.objects.filter(kind="breach").count() == 1


@pytest.mark.django_db
def test_healthz_reports_unclaimed_breaches(client, make_ticket, clock_at, policies):
    with clock_at(T0):
        make_ticket(impact="high", urgency="high")
    with clock_at(T0 + timedelta(minutes=30)):
        assert client.get("/healthz").json()["sla"] == {"running_clocks": 2, "unclaimed_breaches": 1}
        from sla.sweep import run_sweep

        run_sweep(risk=False)
        assert client.get("/healthz").json()["sla"] == {"running_clocks": 1, "unclaimed_breaches": 0}
