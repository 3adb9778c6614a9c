"""What pages build from tables that change rarely, kept in the shared cache.

The choice lists of agents and teams and the queue page's filter bar and bulk form are built
from a few small tables (users, teams, their members, categories, macros) on every page view:
at 100,000 tickets they were a third of the queue page's time and a sixth of the ticket
page's (``bench/queue_page.py``). They are kept in the cache (``CACHES``: every web node sees
the same entries) under one *version*:

- an app names the models whose rows such lists show (``watch(Team, Team.members.through)``);
  saving or deleting one of their rows, or changing a many-to-many relation, starts a new
  version, and everything kept under an older one is recomputed when next asked for. The new
  version is set right away (the request that made the change sees it) and once more when its
  transaction commits (a page rendered in between from the old rows is not kept);
- entries expire after ``LIST_CACHE_SECONDS`` (0: nothing is kept), so a change made behind
  the ORM's back (SQL by hand, ``QuerySet.update``) shows within that time;
- a cache that does not answer (Redis down) costs speed only: everything is computed;
- what is kept is computed from the primary, also in a page that reads from a replica (a
  replica a second behind would otherwise keep the old rows under the new version).

One cache read (``get_many``) serves the version and every entry a caller asks for at once.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import translation

from itsm.replicas import reading_from_primary

VERSION_KEY = "listcache:version"
logger = logging.getLogger(__name__)
T = TypeVar("T")

# Saves that change nothing a list shows (a sign-in writes last_login).
IGNORED_UPDATES = frozenset({"last_login"})


def renew(**kwargs: Any) -> None:
    """Start a new version (a receiver of ``post_save``, ``post_delete`` and ``m2m_changed``)."""
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) <= IGNORED_UPDATES:
        return
    if kwargs.get("action", "post_").startswith("pre_"):
        return  # m2m_changed: once, after the relation changed
    _new_version()
    transaction.on_commit(_new_version)


def _new_version() -> str:
    version = uuid.uuid4().hex
    cache.set(VERSION_KEY, version, timeout=None)
    return version


def watch(*senders: type[models.Model]) -> None:
    """Renew the version when a row of one of these models is saved or deleted (or, for the
    through model of a many-to-many relation, when the relation changes). From ``ready()``."""
    for sender in senders:
        uid = f"listcache.{sender._meta.label_lower}"
        if sender._meta.auto_created:  # a many-to-many relation's table
            m2m_changed.connect(renew, sender=sender, dispatch_uid=f"{uid}.m2m")
            continue
        post_save.connect(renew, sender=sender, dispatch_uid=f"{uid}.save")
        post_delete.connect(renew, sender=sender, dispatch_uid=f"{uid}.delete")


def _key(name: str, parts: tuple[Any, ...]) -> str:
    # ``name@tag``: an entry of ``name`` (several lists of one kind asked for in one read).
    name = name.partition("@")[0]
    digest = hashlib.sha256(repr((translation.get_language(), *parts)).encode()).hexdigest()[:32]
    return f"listcache:{name}:{digest}"


def cached(wanted: Mapping[str, tuple[tuple[Any, ...] | None, Callable[[], T]]]) -> dict[str, T]:
    """Each entry's value: ``{name: (key parts, compute)}``. The key is the name (without what
    follows an ``@``), the active language and the parts; ``None`` for parts computes without
    the cache. Read in one cache query; what is missing or older than the version is computed
    and stored."""
    seconds = settings.LIST_CACHE_SECONDS
    keys = {
        name: _key(name, parts) for name, (parts, _compute) in wanted.items() if parts is not None and seconds
    }
    found: dict[str, Any] = {}
    version = ""
    if keys:
        try:
            found = cache.get_many([VERSION_KEY, *keys.values()])
            version = found.get(VERSION_KEY) or _new_version()
        except Exception:  # noqa: BLE001 - a cache that is down costs speed, not the page
            logger.warning("The list cache is unavailable; computing without it", exc_info=True)
            keys, found = {}, {}
    values: dict[str, T] = {}
    missing: dict[str, tuple[str, T]] = {}
    for name, (_parts, compute) in wanted.items():
        entry = found.get(keys[name]) if name in keys else None
        if entry is not None and entry[0] == version:
            values[name] = entry[1]
            continue
        with reading_from_primary():  # kept for every reader: not from a replica that lags
            values[name] = compute()
        if name in keys:
            missing[keys[name]] = (version, values[name])
    if missing:
        try:
            cache.set_many(missing, timeout=seconds)
        except Exception:  # noqa: BLE001 - as above: computed, only not kept
            logger.warning("The list cache is unavailable; not keeping what was computed", exc_info=True)
    return values
