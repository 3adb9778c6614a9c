"""Outbox and Jira sync Prometheus gauges (``itsm.analytics.metrics``): one query per scrape."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

# (integration label, what waits there, since when): every outbox the worker drains.
OUTBOXES = (
    ("webhooks", "SELECT count(*), min(created_at) FROM webhooks_webhookdelivery"
     " WHERE status IN ('pending', 'retrying', 'sending')"),
    ("chat", "SELECT count(*), min(created_at) FROM chat_chatmessage"
     " WHERE status IN ('pending', 'retrying', 'sending')"),
    ("jira_outbound", "SELECT count(*), min(created_at) FROM jira_outboundchange"
     " WHERE state IN ('pending', 'sending')"),
    ("jira_inbound", "SELECT count(*), min(received_at) FROM jira_webhookreceipt WHERE state = 'pending'"),
)  # fmt: skip


def collect() -> Iterable[Metric]:
    sql = " UNION ALL ".join(
        f"SELECT '{name}', * FROM ({query}) AS q{index}"  # noqa: S608 - constants
        for index, (name, query) in enumerate(OUTBOXES)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        rows = {name: (count, oldest) for name, count, oldest in cursor.fetchall()}
    now = timezone.now()
    depth = GaugeMetricFamily(
        "itsm_outbox_pending", "Messages waiting to be delivered, per integration.", labels=["integration"]
    )
    age = GaugeMetricFamily(
        "itsm_outbox_oldest_pending_age_seconds",
        "Age of the oldest message waiting, per integration (0: none).",
        labels=["integration"],
    )
    for name, _query in OUTBOXES:
        count, oldest = rows.get(name, (0, None))
        depth.add_metric([name], count)
        age.add_metric([name], (now - oldest).total_seconds() if oldest else 0)
    yield depth
    yield age
    lag = GaugeMetricFamily(
        "itsm_jira_sync_lag_seconds",
        "How far Jira and the desk are apart: the oldest change not yet applied either way (0: in sync).",
    )
    oldest = [rows[name][1] for name in ("jira_outbound", "jira_inbound") if rows.get(name, (0, None))[1]]
    lag.add_metric([], (now - min(oldest)).total_seconds() if oldest else 0)
    yield lag
