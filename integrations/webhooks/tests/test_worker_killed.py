"""A worker killed with SIGKILL in the middle of a webhook delivery: the job is given back by
the ``retry-stalled-jobs`` periodic task, another worker delivers it, and the delivery happens
once (the receiver sees the same delivery id on the cut-off attempt and on the retry)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.webhooks import actions
from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from integrations.webhooks.tests.fakes import N8N_ACCEPTED, Reply
from itsm.tasks import retry_stalled_jobs
from itsm.tests.test_login_rate_limit import server_environment


def retry_stalled() -> int:
    """One run of the periodic task, as the worker would run it."""
    return async_to_sync(retry_stalled_jobs.func)()


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_job_cut_off_by_a_killed_worker_runs_again_and_delivers_once(
    clean_queue, settings, service, make_ticket, run_worker
):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 0
    n8n = service(Reply(hang=True), N8N_ACCEPTED)  # the first attempt never gets an answer
    WebhookSubscription.objects.create(name="n8n", url=n8n.url, events=["ticket.critical"])
    make_ticket("Core switch down", impact="high", urgency="high")
    job = ProcrastinateJob.objects.get(queue_name="webhooks")

    environment = {**server_environment(), "WEBHOOK_TIMEOUT_SECONDS": "300"}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "procrastinate", "worker", "--queues", "webhooks"],
        cwd=settings.BASE_DIR,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(n8n.requests) == 1, "the worker's first attempt")
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    job.refresh_from_db()
    assert job.status == "doing"  # left running by the dead worker

    # Nothing retries a job of a worker that still looks alive …
    assert retry_stalled() == 0
    # … until its heartbeat is older than WORKER_STALLED_SECONDS and the delivery's claim has
    # lapsed (time passing, written in two statements).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - make_interval(secs => %s)",
            [settings.WORKER_STALLED_SECONDS + 5],
        )
    WebhookDelivery.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert retry_stalled() == 1  # the job is given back …
    job.refresh_from_db()
    assert job.status == "todo"
    actions.do_requeue_stalled()  # … and so is the delivery (the webhooks-requeue task)
    assert WebhookDelivery.objects.get().status == DeliveryStatus.RETRYING

    run_worker(queues=["webhooks"])

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(n8n.requests) == 2
    assert len({request.json()["delivery_id"] for request in n8n.requests}) == 1
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert not ProcrastinateJob.objects.filter(status="doing").exists()
    assert retry_stalled() == 0  # and nothing is retried twice
