"""Demo problems for ``manage.py seed_demo``: detection run on the demo incidents, two known
errors with their workaround — one made by hand, the recurring VPN drops found by detection
moved to known error — each with the history incidents it explains linked, so the copilot's questions
about problems and the quick fix have something to answer with (idempotent: detection opens
nothing twice, the known errors are made and the incidents linked once)."""

from __future__ import annotations

from typing import Any

from problems import actions
from problems.models import Problem, ProblemStatus
from tickets.models import Ticket

KNOWN_ERROR_TITLE = "Password changes reach the ERP an hour late"
# The history incidents this known error explains (tickets/demo.py titles).
KNOWN_ERROR_INCIDENTS = "Cannot log in after password change"
VPN_WORKAROUND = "Reset the client profile and reinstalled the latest version."


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
    known_error = Problem.objects.get(title=KNOWN_ERROR_TITLE)
    for ticket in Ticket.objects.filter(
        title=KNOWN_ERROR_INCIDENTS, metadata__demo_history=True, problem_link__isnull=True
    ).order_by("pk"):
        actions.do_link_incident(known_error, ticket, actor=agent)
    vpn = Problem.objects.filter(title__icontains="VPN").order_by("pk").first()
    if vpn is not None and vpn.status == ProblemStatus.NEW:
        vpn = actions.do_transition_problem(
            vpn,
            ProblemStatus.KNOWN_ERROR,
            actor=users["agent"],
            root_cause="The VPN client's power saving drops the tunnel on some wifi adapters.",
            workaround=VPN_WORKAROUND,
        )
    if vpn is not None:
        # The agents linked the VPN drops they resolved to it (detection joined only the latest).
        for ticket in Ticket.objects.filter(
            title__startswith="VPN disconnects", metadata__demo_history=True, problem_link__isnull=True
        ).order_by("pk"):
            actions.do_link_incident(vpn, ticket, actor=users["agent"])
    if stdout is not None:
        stdout.write(f"Demo problems: {len(found)} detected, {len(joined)} incidents joined")
