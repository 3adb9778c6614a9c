"""The security audit: ``record(…)`` appends one ``SecurityEvent``.

Who acted and from which address come from the request being served (``RequestContextMiddleware``
sets them), so a model signal deep in a save still knows them; commands and the worker act as
``system:…`` labels through ``acting_as(…)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.db.models.signals import post_save
from django.http import HttpRequest

from itsm.lib.networks import client_ip
from itsm.security.models import SecurityAction, SecurityEvent


@dataclass(frozen=True)
class Actor:
    user: AbstractBaseUser | None = None
    label: str = ""
    ip: str | None = None


_actor: ContextVar[Actor | None] = ContextVar("security_actor", default=None)
_request: ContextVar[HttpRequest | None] = ContextVar("security_request", default=None)


@contextlib.contextmanager
def serving(request: HttpRequest) -> Iterator[None]:
    """While a request is served, events are attributed to its user and address."""
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


def _request_ip() -> str | None:
    request = _request.get()
    return client_ip(request) if request is not None else None


def current_actor() -> Actor:
    explicit = _actor.get()
    if explicit is not None:
        return explicit
    request = _request.get()
    if request is None:
        return Actor(label="system")
    # Read now, not when the request began: DRF sets the user after token authentication.
    user = getattr(request, "user", None)
    if user is not None and not user.is_authenticated:
        user = None
    return Actor(user=user, ip=_request_ip())


@contextlib.contextmanager
def acting_as(
    *, user: AbstractBaseUser | None = None, label: str = "", ip: str | None = None
) -> Iterator[None]:
    """Everything recorded inside is attributed to this actor (a user, or a ``system:…`` label),
    from the request's address unless one is given."""
    token = _actor.set(Actor(user=user, label=label, ip=ip if ip is not None else _request_ip()))
    try:
        yield
    finally:
        _actor.reset(token)


def record(
    action: SecurityAction,
    *,
    target: models.Model | tuple[str, object],
    target_label: str = "",
    before: dict | None = None,
    after: dict | None = None,
    actor: AbstractBaseUser | None = None,
) -> SecurityEvent:
    """Append one security event. ``actor`` defaults to whoever the current request acts for."""
    context = current_actor()
    user = actor if actor is not None else context.user
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if isinstance(target, models.Model):
        target_type, target_id = target._meta.label_lower, str(target.pk)
        target_label = target_label or str(target)
    else:
        target_type, target_id = target[0], str(target[1])
    return SecurityEvent.objects.create(
        actor_id=user.pk if user is not None else None,
        actor_label=(user.get_username() if user is not None else context.label or "system")[:254],
        ip=context.ip,
        action=action,
        target_type=target_type[:60],
        target_id=target_id[:64],
        target_label=target_label[:254],
        before=before or {},
        after=after or {},
    )


# Model creations other apps ask to be audited (``watch_creation``), keyed by model label.
@dataclass(frozen=True)
class WatchedCreation:
    action: SecurityAction
    actor_field: str
    fields: tuple[str, ...]


_watched: dict[str, WatchedCreation] = {}


def watch_creation(
    model_label: str, *, action: SecurityAction, actor_field: str, fields: tuple[str, ...] = ()
) -> None:
    """Audit every new row of ``model_label`` (``"app.Model"``) as ``action``, by the user in
    ``actor_field``, with ``fields`` as the event's *after*. Domain apps call this from ``ready()``:
    the core names none of their models."""
    _watched[model_label.lower()] = WatchedCreation(action=action, actor_field=actor_field, fields=fields)
    post_save.connect(_on_watched_save, sender=model_label, dispatch_uid=f"security-watch-{model_label}")


def _on_watched_save(
    sender: type[models.Model], instance: models.Model, created: bool, **kwargs: object
) -> None:
    watch = _watched.get(sender._meta.label_lower)
    if not created or watch is None:
        return
    actor = getattr(instance, watch.actor_field, None)
    record(
        watch.action,
        target=instance,
        actor=actor,
        after={field: _plain(getattr(instance, field, None)) for field in watch.fields},
    )


def _plain(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)
