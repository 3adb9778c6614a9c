"""The agent-productivity part of ``seed_demo`` (idempotent): macros, work logged and
satisfaction answers over the demo history (so the time and CSAT KPIs have figures), links
and a merge in today's queue."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.db.models import Q

from tickets import actions
from tickets.models import (
    Macro,
    MacroVisibility,
    RelationKind,
    SatisfactionSurvey,
    Ticket,
    TicketRelation,
    TicketStatus,
    WorkLog,
)

MACROS = [
    {
        "name": "Password reset: link sent",
        "body": "Hello {{ requester.first_name }},\n\nI have sent a password reset link to "
        "{{ requester.email }}. It works for one hour; once you have set a new password, sign in "
        "again on every device.\n\nBest regards,\n{{ agent.full_name }}",
        "set_status": TicketStatus.PENDING_CUSTOMER,
        "add_tags": ["password"],
        "assign_to_me": True,
    },
    {
        "name": "Need more information",
        "body": "Hello {{ requester.first_name }},\n\nTo move {{ ticket.number }} forward, could you "
        "send a screenshot of the error and the time it happened?\n\nThanks,\n{{ agent.first_name }}",
        "set_status": TicketStatus.PENDING_CUSTOMER,
    },
    {
        "name": "Resolved: VPN client reinstalled",
        "body": "Hello {{ requester.first_name }},\n\nThe VPN client was reinstalled with the current "
        "profile and the connection has held for an hour. If it drops again, reply here and the "
        "ticket reopens.\n\n{{ agent.full_name }}",
        "set_status": TicketStatus.RESOLVED,
        "resolution": "Reinstalled the VPN client with the current profile.",
        "add_tags": ["vpn"],
    },
    {
        "name": "Escalate to Network (internal)",
        "body": "Escalated to Network: {{ ticket.title }} ({{ ticket.priority }}). Logs attached above.",
        "internal": True,
        "set_priority": "high",
        "priority_reason": "escalated by the service desk",
    },
]


def seed_productivity(users: dict, teams: dict) -> None:
    admin, agent = users["admin"], users["agent"]
    _seed_macros(admin, agent, teams)
    _seed_history_time_and_surveys(users)
    _seed_queue_links(agent)


def _seed_macros(admin: Any, agent: Any, teams: dict) -> None:
    if Macro.objects.exists():
        return
    for index, values in enumerate(MACROS):
        values = dict(values)
        if index == 0:
            values["visibility"] = MacroVisibility.TEAM
            values["team"] = teams.get("Service Desk")
        elif index == 3:
            values["visibility"] = MacroVisibility.PERSONAL
        else:
            values["visibility"] = MacroVisibility.SHARED
        owner = agent if values["visibility"] == MacroVisibility.PERSONAL else admin
        if values["visibility"] == MacroVisibility.TEAM and values.get("team") is None:
            values["visibility"] = MacroVisibility.SHARED
            owner = admin
        macro = actions.do_save_macro(None, values, actor=owner)
        Macro.objects.filter(pk=macro.pk).update(usage_count=[42, 17, 9, 3][index])


def _seed_history_time_and_surveys(users: dict) -> None:
    """Set-based: a work log entry or two per history ticket, and a survey for most resolved ones
    (about half answered, mostly good scores, a few bad), at the times they would have happened."""
    if WorkLog.objects.filter(ticket__metadata__demo_history=True).exists():
        return
    rng = random.Random(18)  # noqa: S311 - demo data, not security
    history = list(
        Ticket.objects.filter(metadata__demo_history=True)
        .exclude(assignee=None)
        .only("pk", "assignee", "requester", "created_at", "resolved_at", "status", "priority")
        .order_by("pk")
    )
    logs, surveys = [], []
    for ticket in history:
        end = ticket.resolved_at or ticket.created_at + timedelta(hours=2)
        for _entry in range(rng.choice((1, 1, 2, 3))):
            minutes = rng.choice((5, 10, 15, 20, 30, 30, 45, 60, 90))
            worked_at = ticket.created_at + (end - ticket.created_at) * rng.random()
            logs.append(
                WorkLog(
                    ticket=ticket,
                    user_id=ticket.assignee_id,
                    minutes=minutes,
                    worked_at=worked_at,
                    created_at=worked_at,
                    billable=ticket.priority in ("critical", "high") and rng.random() < 0.5,
                )
            )
        if ticket.resolved_at and ticket.status != TicketStatus.CANCELLED and rng.random() < 0.8:
            answered = rng.random() < 0.45
            score = rng.choices((5, 4, 3, 2, 1), weights=(50, 28, 10, 7, 5))[0] if answered else None
            at = ticket.resolved_at + timedelta(hours=rng.randint(1, 40))
            surveys.append(
                SatisfactionSurvey(
                    ticket=ticket,
                    requester_id=ticket.requester_id,
                    sent_at=ticket.resolved_at,
                    score=score,
                    comment={
                        1: "Took far too long.",
                        2: "Fixed, but I had to chase it.",
                        5: "Quick, thanks!",
                    }.get(score or 0, ""),
                    answered_at=at if answered else None,
                    updated_at=at if answered else None,
                )
            )
    WorkLog.objects.bulk_create(logs, batch_size=1000)
    SatisfactionSurvey.objects.bulk_create(surveys, batch_size=1000, ignore_conflicts=True)


def _seed_queue_links(agent: Any) -> None:
    """Today's queue: a parent incident with a child, and time logged on the worked tickets."""
    queue = list(Ticket.objects.filter(metadata__demo=True).select_related("assignee").order_by("pk"))
    if len(queue) < 4 or TicketRelation.objects.filter(Q(source__in=queue) | Q(target__in=queue)).exists():
        return
    open_tickets = [ticket for ticket in queue if ticket.is_open]
    if len(open_tickets) >= 2:
        actions.do_add_relation(
            open_tickets[0], target=open_tickets[1], kind=RelationKind.PARENT_OF, actor=agent
        )
    for index, ticket in enumerate(queue):
        if ticket.assignee_id and ticket.assignee.is_agent:
            actions.do_log_work(
                ticket,
                actor=ticket.assignee,
                minutes=(15, 25, 40, 10)[index % 4],
                note=("Remote session", "Checked the logs", "Call with the user", "")[index % 4],
                worked_at=ticket.updated_at,
            )
