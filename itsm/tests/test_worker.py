"""The background worker: a real procrastinate worker runs the queued jobs."""

import pytest
from procrastinate.contrib.django import app

from itsm.models import WorkerHeartbeat
from itsm.tasks import heartbeat


def run_worker_until_idle() -> None:  # the same as the run_worker fixture
    with app.replace_connector(app.connector.get_worker_connector()):
        app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False)


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_heartbeat_and_healthz_sees_it(client):
    heartbeat.defer()
    run_worker_until_idle()
    assert WorkerHeartbeat.objects.count() == 1
    body = client.get("/healthz").json()
    assert body["worker"]["stale"] is False
    assert body["queue"]["todo"] == 0


def test_the_heartbeat_is_periodic():
    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["heartbeat"].cron == "* * * * *"
