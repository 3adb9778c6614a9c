"""``{% sla_badge ticket %}`` (``badge_html(ticket)`` in Python): the colour-coded SLA badge of a ticket, from its prefetched clocks
(``prefetch_related("sla_clocks")`` keeps a list at a fixed number of queries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from sla.models import TicketSLA

register = template.Library()

# What the badge reads of a clock (the queue prefetches only these).
BADGE_FIELDS = (
    "ticket_id",
    "metric",
    "state",
    "due_at",
    "warn_at",
    "paused_since",
    "stopped_at",
    "breached_at",
)
URGENCY = {"breached": 0, "at_risk": 1, "ok": 2, "paused": 3, "completed": 4, "cancelled": 5, "unknown": 6}


def short_duration(seconds: int | float) -> str:
    """``2d 4h``, ``3h 05m``, ``12m``, ``<1m``."""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return "<1m"


def describe(clock: TicketSLA, now: datetime) -> dict[str, object]:
    status = clock.status_at(now)
    remaining = clock.remaining_seconds(now)
    if status == "breached" and remaining is not None:
        text = _("overdue %(time)s") % {"time": short_duration(remaining)} if remaining < 0 else _("breached")
    elif status in ("ok", "at_risk") and remaining is not None:
        text = _("%(time)s left") % {"time": short_duration(remaining)}
    elif status == "paused":
        text = _("paused")
    elif status == "completed":
        text = _("met")
    elif status == "cancelled":
        text = _("cancelled (merged)")
    else:
        text = _("no SLA")
    metric = _("Response") if clock.metric == "response" else _("Resolution")
    return {
        "status": status,
        "text": text,
        "metric": metric,
        "due_at": clock.due_at,
        "clock": clock,
        "remaining": remaining,
    }


def most_urgent(clocks: list[TicketSLA], now: datetime) -> dict[str, object] | None:
    """The description of the most urgent clock (only that one is described: translated)."""
    timed = [clock for clock in clocks if clock.due_at is not None]
    if not timed:
        return None
    return describe(min(timed, key=lambda clock: (URGENCY[clock.status_at(now)], clock.due_at)), now)


def badge_html(ticket: Any) -> str:
    """The badge of the most urgent of the ticket's clocks, or "no SLA"."""
    badge = most_urgent(list(ticket.sla_clocks.all()), timezone.now())
    if badge is None:
        return format_html('<span class="muted">{}</span>', _("no SLA"))
    return format_html(
        '<span class="pill {}" title="{} · {} {}">{}</span>',
        badge["status"],
        badge["metric"],
        _("due"),
        timezone.localtime(badge["due_at"]).strftime("%Y-%m-%d %H:%M"),  # format "Y-m-d H:i"
        badge["text"],
    )


@register.simple_tag
def sla_badge(ticket: object) -> str:
    return badge_html(ticket)


@register.filter
def duration(seconds: int | float | None) -> str:
    return "" if seconds is None else short_duration(seconds)
