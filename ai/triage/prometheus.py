"""Triage Prometheus gauges (``itsm.analytics.metrics``): one query per scrape."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from ai.triage.models import SuggestionStatus, TriageField


def collect() -> Iterable[Metric]:
    since = timezone.now() - timedelta(hours=24)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT field, status, count(*), count(*) FILTER (WHERE applied) FROM triage_triageresult"
            " WHERE created_at >= %s GROUP BY 1, 2",
            [since],
        )
        rows = cursor.fetchall()
    predictions = GaugeMetricFamily(
        "itsm_triage_predictions_24h",
        "Triage predictions of the last 24 hours by field and outcome (accepted, rejected, applied …).",
        labels=["field", "status"],
    )
    counts = {(field, status): count for field, status, count, _applied in rows}
    for field in TriageField.values:
        for status in SuggestionStatus.values:
            predictions.add_metric([field, status], counts.get((field, status), 0))
    yield predictions
    accepted = sum(count for (_f, status), count in counts.items() if status == SuggestionStatus.ACCEPTED)
    decided = accepted + sum(
        count for (_f, status), count in counts.items() if status == SuggestionStatus.REJECTED
    )
    rate = GaugeMetricFamily(
        "itsm_triage_acceptance_ratio_24h",
        "Accepted over decided triage suggestions of the last 24 hours (NaN: none decided).",
    )
    rate.add_metric([], accepted / decided if decided else float("nan"))
    yield rate
