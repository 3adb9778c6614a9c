"""The tickets app's Prometheus gauges (``itsm.analytics.metrics``): two queries per scrape."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from tickets.kpis import OPEN


def collect() -> Iterable[Metric]:
    with connection.cursor() as cursor:
        # Index-only over ticket_breakdown_idx (status, priority, …).
        cursor.execute(
            f"SELECT status, priority, count(*) FROM tickets_ticket WHERE status IN {OPEN}"  # noqa: S608
            " AND NOT archived GROUP BY 1, 2"
        )
        rows = cursor.fetchall()
        # The partial ticket_unassigned_idx holds exactly the open, unassigned tickets.
        cursor.execute(
            f"SELECT count(*), min(created_at) FROM tickets_ticket WHERE assignee_id IS NULL"  # noqa: S608
            f" AND status IN {OPEN}"
        )
        unassigned, oldest = cursor.fetchone()
    open_tickets = GaugeMetricFamily(
        "itsm_tickets_open",
        "Open tickets (not archived) by status and priority.",
        labels=["status", "priority"],
    )
    for status, priority, count in sorted(rows):
        open_tickets.add_metric([status, priority], count)
    yield open_tickets
    waiting = GaugeMetricFamily("itsm_tickets_unassigned", "Open tickets without an assignee.")
    waiting.add_metric([], unassigned)
    yield waiting
    age = GaugeMetricFamily(
        "itsm_tickets_oldest_unassigned_age_seconds", "Age of the oldest open unassigned ticket (0: none)."
    )
    age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0)
    yield age
