"""Platform background work. Domain apps define their own ``tasks.py`` (autodiscovered)."""

from __future__ import annotations

import logging
import socket

from django.utils import timezone
from procrastinate import App
from procrastinate.contrib.django import app

from itsm.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def on_app_ready(procrastinate_app: App) -> None:
    """Hook for procrastinate's Django app (PROCRASTINATE_ON_APP_READY)."""


def worker_name() -> str:
    return socket.gethostname()


@app.periodic(cron="* * * * *", periodic_id="heartbeat")
@app.task(queue="default", queueing_lock="heartbeat", pass_context=False)
def heartbeat(timestamp: int | None = None) -> None:
    """Proves a worker is alive; ``/healthz`` reports the age of the latest beat."""
    WorkerHeartbeat.objects.update_or_create(
        worker=worker_name(), defaults={"beat_at": timezone.now()}
    )
