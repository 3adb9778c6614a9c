"""JSM SLA → our SLA clocks (source ``jira``), through the sla app's sync registry.

JSM reports each SLA (``GET /rest/servicedeskapi/request/{key}/sla``, or the SLA custom
fields of an issue) as ``{name, ongoingCycle?, completedCycles[]}``. The running cycle wins;
otherwise the latest completed one says when the clock stopped and whether it breached. A
metric is matched by the SLA's name or field id in the field mappings (admin), by default
"Time to first response" → response and "Time to resolution" → resolution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.jira import client as jira_client
from integrations.jira.mapper import Mappings, parse_jira_datetime
from integrations.jira.models import JiraLink, stable_hash
from integrations.jira.transport import JiraError, JiraNotFound, JiraUnavailable
from sla.actions import apply_remote_clock
from sla.models import ClockSource, TicketSLA
from sla.sync import SyncUnavailable, register_sync_provider, sync_ticket

logger = logging.getLogger(__name__)


def _date(value: Any) -> datetime | None:
    """A JSM DateDTO ``{iso8601, jira, friendly, epochMillis}`` (never the localised ``friendly``)."""
    if not isinstance(value, dict):
        return None
    millis = value.get("epochMillis")
    if isinstance(millis, int | float):
        try:
            return datetime.fromtimestamp(millis / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_jira_datetime(value.get("jira")) or parse_jira_datetime(value.get("iso8601"))


def _millis(value: Any) -> int | None:
    if isinstance(value, dict) and isinstance(value.get("millis"), int | float):
        return int(value["millis"])
    return None


@dataclass(frozen=True)
class SlaCycle:
    started_at: datetime | None
    due_at: datetime | None
    stopped_at: datetime | None
    breached: bool
    paused: bool
    goal_millis: int | None

    @classmethod
    def parse(cls, cycle: Any, *, completed: bool) -> SlaCycle | None:
        if not isinstance(cycle, dict):
            return None
        started = _date(cycle.get("startTime"))
        goal = _millis(cycle.get("goalDuration"))
        due = _date(cycle.get("breachTime"))
        if due is None and started is not None and goal is not None:
            due = started + timedelta(milliseconds=goal)  # paused cycles may omit breachTime
        return cls(
            started_at=started,
            due_at=due,
            stopped_at=_date(cycle.get("stopTime")) if completed else None,
            breached=bool(cycle.get("breached")),
            paused=bool(cycle.get("paused")) and not completed,
            goal_millis=goal,
        )

    def key(self) -> dict:
        return {
            "start": self.started_at,
            "due": self.due_at,
            "stop": self.stopped_at,
            "breached": self.breached,
            "paused": self.paused,
        }


@dataclass(frozen=True)
class JsmSla:
    field_id: str
    name: str
    cycle: SlaCycle | None  # None: not started

    @classmethod
    def parse(cls, value: Any, field_id: str = "") -> JsmSla | None:
        if not isinstance(value, dict) or not value.get("name"):
            return None
        cycle = SlaCycle.parse(value.get("ongoingCycle"), completed=False)
        if cycle is None:
            completed = [SlaCycle.parse(item, completed=True) for item in value.get("completedCycles") or []]
            completed = [item for item in completed if item is not None and item.stopped_at is not None]
            cycle = max(completed, key=lambda item: item.stopped_at) if completed else None
        return cls(field_id=field_id, name=str(value["name"]), cycle=cycle)


def parse_slas(values: list[tuple[str, Any]]) -> list[JsmSla]:
    return [sla for field_id, value in values if (sla := JsmSla.parse(value, field_id)) is not None]


def apply_slas(ticket: Any, link: JiraLink, slas: list[JsmSla], *, force: bool = False) -> list:
    """Apply the mapped SLAs to the ticket's clocks; unchanged JSM values write nothing."""
    mappings = Mappings.current()
    wanted = []
    for sla in slas:
        metric = mappings.sla_metric(sla.field_id, sla.name)
        if metric and sla.cycle is not None and sla.cycle.due_at is not None:
            wanted.append((metric, sla))
    digest = stable_hash(sorted((metric, sla.name, sla.cycle.key()) for metric, sla in wanted))
    now = timezone.now()
    if not force and digest == link.sla_hash:
        JiraLink.objects.filter(pk=link.pk).update(sla_synced_at=now, sla_error="")
        return list(TicketSLA.objects.filter(ticket=ticket, source=ClockSource.JIRA))
    clocks = []
    for metric, sla in wanted:
        cycle = sla.cycle
        clocks.append(
            apply_remote_clock(
                ticket,
                metric=metric,
                due_at=cycle.due_at,
                started_at=cycle.started_at,
                paused=cycle.paused,
                stopped_at=cycle.stopped_at,
                breached=cycle.breached,
                source=ClockSource.JIRA,
            )
        )
    JiraLink.objects.filter(pk=link.pk).update(sla_hash=digest, sla_synced_at=now, sla_error="")
    return clocks


def jira_sla_provider(ticket: Any) -> list | None:
    """The provider registered with ``sla.sync``: None when the ticket is not linked to Jira."""
    link = JiraLink.objects.filter(ticket=ticket).exclude(issue_id=None).first()
    if link is None:
        return None
    if not jira_client.is_configured():
        raise SyncUnavailable("Jira is not configured: set JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN.")
    Mappings.load()
    try:
        values = jira_client.JiraClient().get_request_slas(link.issue_key)
    except JiraNotFound:
        # Linked, but not a JSM request (or not visible to us): no SLA to take.
        JiraLink.objects.filter(pk=link.pk).update(
            sla_synced_at=timezone.now(), sla_error="not a JSM request"
        )
        return []
    except JiraError as error:
        JiraLink.objects.filter(pk=link.pk).update(sla_error=str(error)[:2000])
        raise SyncUnavailable(f"Jira SLA of {link.issue_key} could not be read: {error}") from error
    return apply_slas(ticket, link, parse_slas([("", value) for value in values]), force=True)


def apply_issue_sla_fields(ticket: Any, link: JiraLink, fields: dict[str, Any]) -> list:
    """SLA custom fields that came with an issue (webhook or reconcile): no extra call."""
    slas = parse_slas(list(fields.items()))
    return apply_slas(ticket, link, slas) if slas else []


def register() -> None:
    register_sync_provider(jira_sla_provider)


def sync_stale(*, limit: int | None = None) -> dict:
    """Batch: linked open tickets whose JSM SLA copy is older than JIRA_SLA_SYNC_STALE_SECONDS."""
    if not settings.JIRA_SLA_SYNC_ENABLED or not jira_client.is_configured():
        return {"synced": 0, "failed": 0, "skipped": "disabled"}
    before = timezone.now() - timedelta(seconds=settings.JIRA_SLA_SYNC_STALE_SECONDS)
    links = list(
        JiraLink.objects.sla_stale(before).select_related("ticket")[
            : limit or settings.JIRA_SLA_SYNC_BATCH_SIZE
        ]
    )
    synced = failed = 0
    for link in links:
        try:
            with transaction.atomic():
                sync_ticket(link.ticket)
            synced += 1
        except SyncUnavailable as error:
            failed += 1
            # Stamp it anyway so one broken issue does not starve the others; retried when stale.
            JiraLink.objects.filter(pk=link.pk).update(
                sla_synced_at=timezone.now(), sla_error=str(error)[:2000]
            )
            if isinstance(error.__cause__, JiraUnavailable):
                break  # Jira is down: the next batch tries again
    return {"synced": synced, "failed": failed, "stale": len(links)}
