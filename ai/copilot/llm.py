"""The LLM planner (OpenAI-compatible tool calling); falls back to the local planner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from ai.copilot.actions import Outcome
    from itsm.models import User
    from tickets.models import Ticket


def is_configured() -> bool:
    return bool(settings.AI_LLM_BASE_URL) and settings.AI_COPILOT_PLANNER != "local"


def answer(question: str, user: User, *, context: Ticket | None = None) -> Outcome:
    from ai.copilot.actions import answer_locally

    outcome = answer_locally(question, user, context=context)
    outcome.note = "LLM planner not available: answered by the local planner."
    return outcome
