"""How the core names and links an approval's target without importing the app that owns it.

Each consumer registers its model once, from its ``AppConfig.ready()``::

    from itsm.approvals import registry

    registry.register_target(
        "changes.ChangeRequest",
        label=lambda change: f"{change.number} {change.title}",
        url=lambda change, user: reverse("changes:change-detail", args=[change.pk]),
    )

``label(target)`` gives the text shown on the approval pages, mails and API; ``url(target, user)``
where ``user`` (the reader, or the mail's recipient) follows it. A target whose model registered
nothing, or that was deleted, is shown by its type and id without a link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from itsm.approvals.models import ApprovalRequest


@dataclass(frozen=True)
class TargetType:
    label: Callable[[Any], str]
    url: Callable[[Any, Any], str]


@dataclass(frozen=True)
class TargetInfo:
    label: str
    url: str
    type: str  # "app_label.model_name"


_targets: dict[str, TargetType] = {}


def model_key(model: type[models.Model] | str) -> str:
    if isinstance(model, str):
        app_label, model_name = model.split(".")
        return f"{app_label}.{model_name}".lower()
    return model._meta.label_lower


def register_target(
    model: type[models.Model] | str, *, label: Callable[[Any], str], url: Callable[[Any, Any], str]
) -> None:
    _targets[model_key(model)] = TargetType(label=label, url=url)


def unregister_target(model: type[models.Model] | str) -> None:
    _targets.pop(model_key(model), None)


def is_registered(model: type[models.Model] | str) -> bool:
    return model_key(model) in _targets


def describe(approval: ApprovalRequest, user: Any = None) -> TargetInfo:
    """The target's label and link for ``user`` (prefetch ``target`` in lists: one query per type)."""
    content_type = approval.target_type
    key = f"{content_type.app_label}.{content_type.model}"
    target = approval.target
    kind = _targets.get(key)
    if target is None or kind is None:
        # ContentType.name is the model's verbose name, or its bare name once the model is gone.
        return TargetInfo(label=f"{content_type.name} #{approval.target_id}", url="", type=key)
    return TargetInfo(label=kind.label(target), url=kind.url(target, user) or "", type=key)
