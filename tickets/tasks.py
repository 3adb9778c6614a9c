"""Background work of the tickets app (procrastinate; autodiscovered)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from procrastinate.contrib.django import app

from tickets.actions.autoclose import do_auto_close_resolved
from tickets.actions.exports import do_build_export
from tickets.models import TicketPresence


@app.task(queue="exports", retry=3, pass_context=False)
def build_export(export_id: int) -> None:
    """Build one ticket export (idempotent: a ready or failed export is left alone)."""
    do_build_export(export_id)


@app.periodic(cron="17 * * * *", periodic_id="ticket-presence-cleanup")
@app.task(queue="default", queueing_lock="ticket-presence-cleanup", pass_context=False)
def forget_old_presence(timestamp: int | None = None) -> int:
    """Hourly: drop "who is on this ticket" rows nobody has refreshed for a day."""
    deleted, _ = TicketPresence.objects.filter(seen_at__lt=timezone.now() - timedelta(days=1)).delete()
    return deleted


@app.periodic(cron="23 * * * *", periodic_id="tickets-auto-close")
@app.task(queue="default", queueing_lock="tickets-auto-close", pass_context=False)
def auto_close_resolved(timestamp: int | None = None) -> int:
    """Hourly: close resolved tickets left without a reply for ``DeskSettings.auto_close_days``."""
    return do_auto_close_resolved()
