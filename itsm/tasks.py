"""Platform background work. Domain apps define their own ``tasks.py`` (autodiscovered)."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from procrastinate.contrib.django import app

from itsm.analytics import snapshots
from itsm.lib.retry import MAIL_RETRY, MailBeingSent
from itsm.models import Notification, WorkerHeartbeat

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return socket.gethostname()


@app.periodic(cron="* * * * *", periodic_id="heartbeat")
@app.task(queue="default", queueing_lock="heartbeat", pass_context=False)
def heartbeat(timestamp: int | None = None) -> None:
    """Proves a worker is alive; ``/healthz`` reports the age of the latest beat."""
    WorkerHeartbeat.objects.update_or_create(worker=worker_name(), defaults={"beat_at": timezone.now()})


@app.periodic(cron="* * * * *", periodic_id="retry-stalled-jobs")
@app.task(queue="default", queueing_lock="retry-stalled-jobs", pass_context=False)
async def retry_stalled_jobs(timestamp: int | None = None) -> int:
    """Jobs left ``doing`` by a worker that died (kill -9, a lost machine) go back to ``todo``.

    A live worker beats every 10 s; one silent for WORKER_STALLED_SECONDS is dead, and its jobs
    run again on another worker. Tasks are idempotent, so a job cut off half-way and run again
    has its effect once (a webhook receiver sees the same delivery id twice, at most)."""
    stalled = list(
        await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.WORKER_STALLED_SECONDS)
    )
    for job in stalled:
        logger.warning("job %s (%s) was left running by a dead worker; retrying it", job.id, job.task_name)
        await app.job_manager.retry_job(job)
    return len(stalled)


@app.task(queue="notifications", retry=MAIL_RETRY, pass_context=False)
def send_notification_email(
    notification_id: int, template: str = "itsm/email/notification", context: dict | None = None
) -> bool:
    """Mail one notification in its recipient's language (templates ``<template>.txt``/``_subject.txt``)
    once, and return whether it went now; retried for a day while the mail server is down.

    Claimed by compare-and-set before sending and marked sent after, as ticket mail is
    (``integrations/email/actions.py``): a job run again (retried, delivered twice, or taken
    back from a worker that died) sends nothing twice. A claim younger than
    ``EMAIL_SEND_CLAIM_SECONDS`` raises ``MailBeingSent`` (retried); an older one, left by a
    worker killed while sending, is taken over. Only a worker killed between the mail server's
    answer and the next write to the database leaves mail that goes out twice."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.EMAIL_SEND_CLAIM_SECONDS)
    unsent = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True)
    claimed = unsent.filter(Q(email_claimed_at__isnull=True) | Q(email_claimed_at__lt=stale)).update(
        email_claimed_at=now
    )
    if not claimed:
        if unsent.exists():
            raise MailBeingSent(f"notification {notification_id} is being mailed by another worker")
        return False  # sent already, or the notification is gone
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    recipient = notification.recipient
    payload = {
        "notification": notification,
        "recipient": recipient,
        "site_url": settings.SITE_URL,
        **(context or {}),
    }
    try:
        with translation.override(recipient.language or "en"):
            subject = render_to_string(f"{template}_subject.txt", payload).strip().splitlines()[0]
            body = render_to_string(f"{template}.txt", payload)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient.email])
    except Exception:
        unsent.filter(email_claimed_at=now).update(email_claimed_at=None)  # the retry sends it
        raise
    Notification.objects.filter(pk=notification_id).update(emailed_at=timezone.now(), email_claimed_at=None)
    return True


@app.periodic(cron="*/30 * * * *", periodic_id="kpi-snapshot")
@app.task(queue="default", queueing_lock="kpi-snapshot", pass_context=False)
def snapshot_kpis(timestamp: int | None = None) -> None:
    """Yesterday's and today's KPI snapshots (rows replaced, so re-runs and retries are harmless);
    the figures only knowable at the moment (at risk now) are recorded for today."""
    snapshots.snapshot_recent()
