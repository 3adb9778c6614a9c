"""Demo problems for ``manage.py seed_demo``: detection run on the demo incidents, and a known
error with its workaround (idempotent: detection opens nothing twice, the known error is made once)."""

from __future__ import annotations

from typing import Any

from problems import actions
from problems.models import Problem, ProblemStatus

KNOWN_ERROR_TITLE = "Password changes reach the ERP an hour late"


def seed_problems(sender: Any, users: dict, teams: dict, stdout: Any = None, **kwargs: Any) -> None:
    joined = actions.do_join_similar_incidents(actor=None)
    found = actions.do_detect_recurrences(actor=None)
    agent = users["agent2"]
    if not Problem.objects.filter(title=KNOWN_ERROR_TITLE).exists():
        problem = actions.do_create_problem(
            actor=agent,
            title=KNOWN_ERROR_TITLE,
            description="After a password change, users cannot log in to the ERP for up to an hour.",
            team=teams["Applications"],
            owner=agent,
        )
        actions.do_update_problem(
            problem,
            actor=agent,
            priority="high",
            root_cause="The directory sync to the ERP runs hourly.",
            workaround="Ask the user to wait, or run 'Sync now' for their account in the ERP admin.",
            status=ProblemStatus.KNOWN_ERROR,
        )
        actions.do_add_problem_note(
            problem, actor=agent, body="Vendor ticket opened for an event-driven sync."
        )
    if stdout is not None:
        stdout.write(f"Demo problems: {len(found)} detected, {len(joined)} incidents joined")
