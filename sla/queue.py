"""What the SLA app adds to the ticket pages and lists (``tickets.extensions``): a badge column,
a filter by clock state, a "breaching next" sort, and the SLA panel of the ticket page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from itsm.health import register_contributor
from itsm.lib.prepared import Prepared
from sla.models import ClockState, TicketSLA
from sla.templatetags.sla_tags import BADGE_FIELDS, badge_html
from tickets import extensions

BREACHING_STATES = (ClockState.ON_TRACK, ClockState.AT_RISK, ClockState.BREACHED)


def filter_by_state(queryset: QuerySet, values: list[str]) -> QuerySet:
    """Tickets with at least one clock in one of the states (unknown values are ignored)."""
    states = [value for value in values if value in ClockState.values]
    if not states:
        return queryset
    # A semi-join, not a join: a ticket with two matching clocks still appears once.
    return queryset.filter(pk__in=TicketSLA.objects.filter(state__in=states).values("ticket_id"))


def next_due() -> Subquery:
    """The earliest due time among the ticket's running clocks (breached ones included)."""
    return Subquery(
        TicketSLA.objects.filter(
            ticket=OuterRef("pk"),
            state__in=BREACHING_STATES,
            stopped_at__isnull=True,
            paused_since__isnull=True,
        )
        .order_by("due_at")
        .values("due_at")[:1]
    )


def sort_by_due(queryset: QuerySet, descending: bool) -> QuerySet:
    """Breaching next first (overdue ones before them); tickets without a running clock last."""
    queryset = queryset.annotate(sla_next_due=next_due())
    order = F("sla_next_due").desc(nulls_last=True) if descending else F("sla_next_due").asc(nulls_last=True)
    return queryset.order_by(order, "-id")


# The badge's columns of the clocks of some tickets, by metric within each ticket (not the
# model's ordering, which joins the tickets to sort by their creation); its SQL is written once
# per process (itsm/lib/prepared.py).
_clocks_of = Prepared(
    lambda tickets: (
        TicketSLA.objects.filter(ticket_id__any_of=tickets)
        .only(*BADGE_FIELDS)
        .order_by("ticket_id", "metric")
    )
)


def attach_clocks(tickets: Sequence[Any]) -> None:
    """Each ticket's clocks for its badge (``ticket.sla_badge_clocks``), in one query. A third of
    the cost of a prefetch of ``sla_clocks``, whose related managers the badge does not need."""
    clocks: dict[int, list[TicketSLA]] = {ticket.pk: [] for ticket in tickets}
    for clock in _clocks_of(tickets=list(clocks)):
        clocks[clock.ticket_id].append(clock)
    for ticket in tickets:
        ticket.sla_badge_clocks = clocks[ticket.pk]


def register() -> None:
    register_contributor("sla", health)
    extensions.register_queue_column(
        extensions.QueueColumn(
            name="sla",
            label=_("SLA"),
            render=badge_html,
            load=attach_clocks,
            order=50,
        )
    )
    extensions.register_queue_filter(
        extensions.QueueFilter(
            name="sla",
            label=_("SLA state"),
            apply=filter_by_state,
            choices=tuple(ClockState.choices),
        )
    )
    extensions.register_queue_sort(
        extensions.QueueSort(name="sla_due", label=_("Breaching next"), apply=sort_by_due)
    )
    extensions.register_detail_panel(
        extensions.DetailPanel(
            name="sla",
            label=_("SLA"),
            url_name="sla:ticket-panel",
            order=20,
            agents_only=True,
        )
    )


def health() -> dict[str, object]:
    """For /healthz: clocks running, and clocks past a threshold the sweep has not claimed yet
    (more than a few for more than a minute means the sweep is not running)."""
    lagging = timezone.now() - timedelta(minutes=2)
    return {
        "running_clocks": TicketSLA.objects.running().count(),
        "unclaimed_breaches": TicketSLA.objects.crossing_into_breach(lagging).count(),
    }
