"""Template helpers of the ticket pages."""

from __future__ import annotations

import datetime
from typing import Any

from django import template
from django.http import QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from tickets.queue_rows import render_rows

register = template.Library()


@register.simple_tag
def queue_rows(tickets: Any, columns: Any, can_write: bool) -> str:
    """The rows of the queue table (``tickets/queue_rows.py``)."""
    return render_rows(tickets, columns, can_write)


@register.simple_tag
def with_query(base_query: str, **changes: object) -> str:
    """``?<base_query>`` with some parameters replaced (``page=2``, ``sort="-created"``)."""
    query = QueryDict(base_query or "", mutable=True)
    for key, value in changes.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag
def panel_url(panel: object, ticket: object) -> str:
    """The URL of a registered detail panel, or "" when its owner's URL is missing."""
    try:
        return reverse(panel.url_name, args=[ticket.pk])
    except NoReverseMatch:
        return ""


@register.filter
def parse_iso(value: object) -> datetime.datetime | object:
    """An ISO timestamp (as passed to mail templates through the worker) back to a datetime."""
    if isinstance(value, str):
        return parse_datetime(value) or value
    return value


@register.filter
def sort_direction(current: str, key: str) -> str:
    """The sort parameter a column header links to: toggles between descending and ascending."""
    return key if current == f"-{key}" else f"-{key}"


@register.filter
def duration_minutes(value: object) -> str:
    """``95`` → ``1 h 35 min``; ``40`` → ``40 min``; empty for nothing."""
    if value in (None, ""):
        return ""
    total = int(value)  # type: ignore[call-overload]
    hours, minutes = divmod(total, 60)
    if not hours:
        return gettext("%(minutes)s min") % {"minutes": minutes}
    if not minutes:
        return gettext("%(hours)s h") % {"hours": hours}
    return gettext("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
