"""Copilot background work: recommendations from the KPIs and the queues, hourly."""

from __future__ import annotations

from django.conf import settings
from procrastinate.contrib.django import app

from ai.copilot.recommendations import do_generate_recommendations


@app.periodic(cron=settings.AI_RECOMMENDATIONS_CRON, periodic_id="ai-copilot-recommendations")
@app.task(
    queue="ai",
    pass_context=False,
    queueing_lock="ai-copilot-recommendations",
    lock="ai-copilot-recommendations",
)
def generate_recommendations(timestamp: int | None = None) -> None:

    do_generate_recommendations()
