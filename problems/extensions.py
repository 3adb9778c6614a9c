"""Extension points of the problem page for the apps that come later (``ai``): buttons that
post to their own views. Registered from their ``AppConfig.ready()``::

    extensions.register_detail_action(
        extensions.DetailAction(
            name="publish-known-error",
            label=gettext_noop("Publish as a knowledge article"),
            url_name="ai:kb-publish-known-error",
            shown=lambda problem, user: problem.is_known_error and user.is_agent,
        )
    )
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse


@dataclass(frozen=True)
class DetailAction:
    name: str
    label: str  # translated when shown
    url_name: str  # takes the problem's pk; answers a POST
    shown: Callable[[Any, Any], bool]


_actions: dict[str, DetailAction] = {}


def register_detail_action(action: DetailAction) -> None:
    _actions[action.name] = action


def detail_actions(problem: Any, user: Any) -> list[tuple[DetailAction, str]]:
    return [
        (action, reverse(action.url_name, args=[problem.pk]))
        for action in sorted(_actions.values(), key=lambda action: action.name)
        if action.shown(problem, user)
    ]
