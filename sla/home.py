"""The SLA tiles of the agent home (``itsm.analytics.home``) and the queue's "due" filter: one query."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from itsm.analytics.home import Section, Tile, register_section
from sla.models import ClockState, TicketSLA
from tickets import extensions
from tickets.home import queue_url
from tickets.models.ticket import OPEN_STATUSES

RUNNING = (ClockState.ON_TRACK, ClockState.AT_RISK, ClockState.BREACHED)


def end_of_today() -> datetime:
    tomorrow = timezone.localdate() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=timezone.get_current_timezone())


def my_clocks(user: Any) -> list[Tile]:
    now = timezone.now()
    running = TicketSLA.objects.filter(
        ticket__assignee=user,
        ticket__status__in=OPEN_STATUSES,
        ticket__archived=False,
        stopped_at__isnull=True,
        paused_since__isnull=True,
        state__in=RUNNING,
    )
    counts = running.aggregate(
        breached=Count("ticket", distinct=True, filter=Q(state=ClockState.BREACHED) | Q(due_at__lte=now)),
        at_risk=Count(
            "ticket",
            distinct=True,
            filter=(Q(state=ClockState.AT_RISK) | Q(warn_at__lte=now)) & Q(due_at__gt=now),
        ),
        due_today=Count("ticket", distinct=True, filter=Q(due_at__gt=now, due_at__lt=end_of_today())),
    )
    return [
        Tile(
            "breached",
            _("Breached"),
            counts["breached"],
            queue_url(assignee="me", sla="breached", sort="sla_due"),
            tone="bad" if counts["breached"] else "ok",
        ),
        Tile(
            "at_risk",
            _("At risk"),
            counts["at_risk"],
            queue_url(assignee="me", sla="at_risk", sort="sla_due"),
            tone="warn" if counts["at_risk"] else "ok",
        ),
        Tile(
            "due_today",
            _("Due today"),
            counts["due_today"],
            queue_url(assignee="me", due="today", sort="sla_due"),
        ),
    ]


def filter_due(queryset: QuerySet, values: list[str]) -> QuerySet:
    """``?due=today``: tickets with a running clock due between now and the end of today."""
    if "today" not in values:
        return queryset
    clocks = TicketSLA.objects.filter(
        state__in=RUNNING, stopped_at__isnull=True, due_at__gt=timezone.now(), due_at__lt=end_of_today()
    )
    return queryset.filter(pk__in=clocks.values("ticket_id"))


def register() -> None:
    register_section(Section("sla", gettext_lazy("My SLA clocks"), my_clocks, order=10))
    extensions.register_queue_filter(
        extensions.QueueFilter(
            name="due",
            label=gettext_lazy("SLA due"),
            apply=filter_due,
            choices=(("today", gettext_lazy("Today")),),
        )
    )
