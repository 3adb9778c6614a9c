"""The queue page's frame, cached: the filter bar and the bulk form.

Those two forms are a third of the queue page's time at 100,000 tickets (``bench/queue_page.py``):
about twenty select boxes built by Django's forms, and the five queries of their choice lists
(teams, categories, agents, macros). What they show changes rarely, so the page keeps their
HTML in the shared cache (``CACHES``: every web node sees the same entries), keyed by what
they depend on:

- the filter bar: the language and the filters in use (not the search words, written outside
  it, so typing does not fill the cache); it is the same for every agent;
- the bulk form: the language and the agent (the macros offered are those the agent may use).

A saved team, category, macro or user, or a change of a team's members, starts a new
*frame version*: every entry written under an older one is ignored from then on (once right
away, for the request that made the change, and once more when its transaction commits, so
that a page rendered in between from the old rows is not kept). A filter bar with errors is
never cached. Entries expire after ``QUEUE_FRAME_CACHE_SECONDS`` (0: no cache), so a change
made behind the ORM's back (SQL by hand) shows within that time. One cache read per page; a
cache that does not answer (Redis down) makes the page render both forms, not fail.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from itsm.models import Team, User
from tickets.models import Category, Macro

VERSION_KEY = "tickets:queue-frame:version"
logger = logging.getLogger(__name__)


def bump(**kwargs: Any) -> None:
    """Start a new frame version (a signal receiver: saved or deleted rows the frame lists)."""
    if kwargs.get("update_fields") is not None and set(kwargs["update_fields"]) <= {"last_login"}:
        return  # a sign-in changes nothing the frame shows
    _new_version()
    transaction.on_commit(_new_version)


def _new_version() -> str:
    version = uuid.uuid4().hex
    cache.set(VERSION_KEY, version, timeout=None)
    return version


def _key(name: str, parts: tuple[Any, ...]) -> str:
    digest = hashlib.sha256(repr((translation.get_language(), *parts)).encode()).hexdigest()[:32]
    return f"tickets:queue-frame:{name}:{digest}"


def fragments(wanted: dict[str, tuple[tuple[Any, ...] | None, Callable[[], str]]]) -> dict[str, SafeString]:
    """Each fragment's HTML: ``{name: (key parts or None, render)}``; ``None`` renders without
    the cache. Read in one cache query; what is missing is rendered and stored."""
    seconds = settings.QUEUE_FRAME_CACHE_SECONDS
    keys = {
        name: _key(name, parts) for name, (parts, _render) in wanted.items() if parts is not None and seconds
    }
    try:
        found = cache.get_many([VERSION_KEY, *keys.values()]) if keys else {}
        version = found.get(VERSION_KEY) or (_new_version() if keys else "")
    except Exception:  # noqa: BLE001 - a cache that is down (Redis by URL) costs speed, not the page
        logger.warning("The queue frame cache is unavailable; rendering without it", exc_info=True)
        keys, found, version = {}, {}, ""
    html: dict[str, SafeString] = {}
    missing: dict[str, tuple[str, str]] = {}
    for name, (_parts, render) in wanted.items():
        entry = found.get(keys[name]) if name in keys else None
        if entry is not None and entry[0] == version:
            html[name] = mark_safe(entry[1])  # noqa: S308 - HTML this module rendered and stored
            continue
        html[name] = mark_safe(render())  # noqa: S308 - a rendered template
        if name in keys:
            missing[keys[name]] = (version, str(html[name]))
    if missing:
        try:
            cache.set_many(missing, timeout=seconds)
        except Exception:  # noqa: BLE001 - as above: the page is rendered, only not kept
            logger.warning("The queue frame cache is unavailable; not keeping the frame", exc_info=True)
    return html


def connect() -> None:
    """Start a new version when a row the frame lists changes (``TicketsConfig.ready()``)."""
    for model in (Team, User, Category, Macro):
        post_save.connect(bump, sender=model, dispatch_uid=f"tickets.queue_frame.save.{model.__name__}")
        post_delete.connect(bump, sender=model, dispatch_uid=f"tickets.queue_frame.delete.{model.__name__}")
    m2m_changed.connect(bump, sender=Team.members.through, dispatch_uid="tickets.queue_frame.members")
