"""``/metrics``: Prometheus gauges through ``prometheus_client``, process health from the core
and service health from collectors the apps register (``register_collector``).

A collector is a function returning metric families (``GaugeMetricFamily`` …) from a fixed
number of queries, with bounded label values (statuses, priorities, queue names, integration
kinds: never ids or emails). A collector that fails is reported as ``itsm_collector_up 0``
and the others still answer.

Access: ``Authorization: Bearer <METRICS_TOKEN>``, or a client address in
``METRICS_ALLOWED_IPS`` (addresses or networks). With neither set, development and tests answer
the loopback address only and production answers nobody (403 saying what to set).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from itsm import health

logger = logging.getLogger(__name__)

CollectFunction = Callable[[], Iterable[Metric]]
_collectors: dict[str, CollectFunction] = {}


def register_collector(name: str, function: CollectFunction) -> None:
    _collectors[name] = function


def _core() -> Iterable[Metric]:
    database = health.check_database()
    up = GaugeMetricFamily("itsm_database_up", "Whether the database answered.")
    up.add_metric([], int(database.ok))
    yield up
    if not database.ok:
        return
    latency = GaugeMetricFamily("itsm_database_latency_seconds", "Round trip of SELECT 1.")
    latency.add_metric([], database.latency_ms / 1000)
    yield latency
    age = health.heartbeat_age_seconds()
    heartbeat = GaugeMetricFamily(
        "itsm_worker_heartbeat_age_seconds", "Age of the latest worker heartbeat (NaN: none yet)."
    )
    heartbeat.add_metric([], float("nan") if age is None else age)
    yield heartbeat
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT queue_name, status, count(*) FROM procrastinate_jobs "
            "WHERE status IN ('todo', 'doing') GROUP BY 1, 2"
        )
        rows = cursor.fetchall()
    jobs = GaugeMetricFamily("itsm_queue_jobs", "Background jobs by status.", labels=["status"])
    for status in ("todo", "doing"):
        jobs.add_metric([status], sum(count for _queue, state, count in rows if state == status))
    yield jobs
    per_queue = GaugeMetricFamily(
        "itsm_queue_jobs_by_queue", "Background jobs by worker queue and status.", labels=["queue", "status"]
    )
    for queue, status, count in sorted(rows):
        per_queue.add_metric([queue, status], count)
    yield per_queue


class _Registered:
    """Adapts the registered functions to prometheus_client's collector protocol."""

    def collect(self) -> Iterable[Metric]:
        metrics = list(_core())
        database_up = metrics[0].samples[0].value == 1
        yield from metrics
        if not database_up:
            return
        status = GaugeMetricFamily(
            "itsm_collector_up", "Whether each service collector answered.", labels=["collector"]
        )
        for name, function in sorted(_collectors.items()):
            try:
                families = list(function())
            except Exception:  # a broken collector must not take /metrics down with it
                logger.exception("metrics collector %s failed", name)
                status.add_metric([name], 0)
                continue
            status.add_metric([name], 1)
            yield from families
        yield status


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Registered())
    return generate_latest(registry)


# --- access -------------------------------------------------------------------------------------
def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(value.strip(), strict=False) for value in settings.METRICS_ALLOWED_IPS]


def refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the caller may scrape; otherwise the 401/403 answer."""
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        if hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode()):
            return None
        return _refused(401, "The bearer token is not the METRICS_TOKEN.")
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        address = None
    networks = _networks()
    if networks:
        if address is not None and any(address in network for network in networks):
            return None
    elif not token and not settings.PRODUCTION and address is not None and address.is_loopback:
        return None  # development: open to this machine only
    if token:
        return _refused(401, "Send Authorization: Bearer <METRICS_TOKEN>.")
    if not networks and settings.PRODUCTION:
        return _refused(403, "Metrics are closed: set METRICS_TOKEN or METRICS_ALLOWED_IPS.")
    return _refused(403, "This address may not read the metrics.")


def _refused(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def respond(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
