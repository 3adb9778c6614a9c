"""The colour-coded SLA badge of a ticket (``badge_html(ticket)``, the queue's SLA column), from the clocks
attached to a page of tickets (``sla.queue.attach_clocks``) or prefetched (``prefetch_related("sla_clocks")``), so a list
keeps a fixed number of queries; and ``{{ seconds|duration }}`` for the SLA panel."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any

from django import template
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe
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


@functools.lru_cache(maxsize=32)
def _words(language: str | None) -> dict[str, str]:
    """The badge's words in one language (``language`` is the active one: the key of the memo).
    The queue shows a badge on every row; translating its five words per row was a third of
    the row's time (``bench/queue_page.py``)."""
    return {
        "overdue": _("overdue %(time)s"),
        "left": _("%(time)s left"),
        "breached": _("breached"),
        "paused": _("paused"),
        "completed": _("met"),
        "cancelled": _("cancelled (merged)"),
        "none": _("no SLA"),
        "response": _("Response"),
        "resolution": _("Resolution"),
        "due": _("due"),
    }


def describe(clock: TicketSLA, now: datetime, status: str | None = None) -> dict[str, object]:
    words = _words(translation.get_language())
    status = status or clock.status_at(now)
    remaining = clock.remaining_seconds(now)
    if status == "breached" and remaining is not None:
        text = words["overdue"] % {"time": short_duration(remaining)} if remaining < 0 else words["breached"]
    elif status in ("ok", "at_risk") and remaining is not None:
        text = words["left"] % {"time": short_duration(remaining)}
    elif status in ("paused", "completed", "cancelled"):
        text = words[status]
    else:
        text = words["none"]
    return {
        "status": status,
        "text": text,
        "metric": words["response"] if clock.metric == "response" else words["resolution"],
        "due_at": clock.due_at,
        "clock": clock,
        "remaining": remaining,
    }


def most_urgent(clocks: Iterable[TicketSLA], now: datetime) -> dict[str, object] | None:
    """The description of the most urgent clock (only that one is described: translated)."""
    statuses = [(clock, clock.status_at(now)) for clock in clocks if clock.due_at is not None]
    if not statuses:
        return None
    clock, status = min(statuses, key=lambda entry: (URGENCY[entry[1]], entry[0].due_at))
    return describe(clock, now, status=status)


def badge_html(ticket: Any, now: datetime | None = None) -> SafeString:
    """The badge of the most urgent of the ticket's clocks, or "no SLA": the clocks the queue
    attached (``sla.queue.attach_clocks``), else prefetched ones as they are (``.all()`` would
    copy the queryset), else read."""
    clocks = getattr(ticket, "sla_badge_clocks", None)
    if clocks is None:
        clocks = getattr(ticket, "_prefetched_objects_cache", {}).get("sla_clocks")
    badge = most_urgent(ticket.sla_clocks.all() if clocks is None else clocks, now or timezone.now())
    words = _words(translation.get_language())
    if badge is None:
        return mark_safe(f'<span class="muted">{escape(words["none"])}</span>')  # noqa: S308 - escaped
    due = timezone.localtime(badge["due_at"]).strftime("%Y-%m-%d %H:%M")  # format "Y-m-d H:i"
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<span class="pill {escape(badge["status"])}" title="{escape(badge["metric"])} · '
        f'{escape(words["due"])} {due}">{escape(badge["text"])}</span>'
    )


@register.filter
def duration(seconds: int | float | None) -> str:
    return "" if seconds is None else short_duration(seconds)
