"""The SLA app's Prometheus gauges (``itsm.analytics.metrics``): one query per scrape."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from prometheus_client.core import GaugeMetricFamily, Metric

from sla.models import ClockState
from sla.models import Metric as ClockMetric

LIVE_STATES = (ClockState.ON_TRACK, ClockState.AT_RISK, ClockState.BREACHED, ClockState.PAUSED)


def collect() -> Iterable[Metric]:
    with connection.cursor() as cursor:
        # Clocks not stopped yet, by where they stand now (exact between two sweeps too).
        cursor.execute(
            "SELECT metric, CASE WHEN paused_since IS NOT NULL OR state = 'paused' THEN 'paused'"
            " WHEN state = 'breached' OR due_at <= now() THEN 'breached'"
            " WHEN state = 'at_risk' OR warn_at <= now() THEN 'at_risk' ELSE 'on_track' END, count(*)"
            " FROM sla_ticketsla WHERE stopped_at IS NULL"
            " AND state IN ('on_track', 'at_risk', 'breached', 'paused') GROUP BY 1, 2"
        )
        counts = {(metric, state): count for metric, state, count in cursor.fetchall()}
    clocks = GaugeMetricFamily(
        "itsm_sla_clocks", "Running SLA clocks by metric and state.", labels=["metric", "state"]
    )
    for metric in ClockMetric.values:
        for state in LIVE_STATES:
            clocks.add_metric([metric, state], counts.get((metric, state), 0))
    yield clocks
