"""Security background work: forgetting API throttle counters of windows long over."""

from __future__ import annotations

import time

from procrastinate.contrib.django import app

from itsm.security.models import RateCounter

# Every throttle window is at most a day (DRF rates are per second, minute, hour or day).
KEEP_SECONDS = 24 * 3600


@app.periodic(cron="17 * * * *", periodic_id="purge-rate-counters")
@app.task(queue="default", queueing_lock="purge-rate-counters", pass_context=False)
def purge_rate_counters(timestamp: int | None = None) -> int:
    """Idempotent: deletes the counters whose window started more than a day ago."""
    return RateCounter.purge(before=time.time() - KEEP_SECONDS)
