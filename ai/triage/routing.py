"""Routing: who in the predicted team should take the ticket.

A candidate is an active agent of the team who is available and under capacity (open
tickets assigned < ``user.capacity``). Those with the skill the ticket needs (its category's
name, or its parent's) come first; among them the least loaded wins (fewest open tickets,
then the lowest share of capacity, then the name, so the choice is stable). The reasoning
says which rule picked whom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from itsm.models import Role, User
from tickets.models.ticket import OPEN_STATUSES

if TYPE_CHECKING:
    from itsm.models import Team
    from tickets.models import Category


@dataclass
class Candidate:
    user: User
    open_tickets: int
    has_skill: bool


@dataclass
class RoutingSuggestion:
    user: User | None
    reasoning: str
    candidates: list[Candidate] = field(default_factory=list)


def skills_for(category: Category | None) -> set[str]:
    skills: set[str] = set()
    while category is not None and len(skills) < 4:
        skills.add(category.name.strip().lower())
        category = category.parent
    return skills


def candidates_for(team: Team, skills: set[str]) -> list[Candidate]:
    """Available agents of ``team`` under capacity, with their open load (one query)."""
    members = (
        User.objects.filter(teams=team, is_active=True, is_available=True, role__in=[Role.AGENT, Role.ADMIN])
        .annotate(open_load=Count("assigned_tickets", filter=Q(assigned_tickets__status__in=OPEN_STATUSES)))
        .order_by("email")
    )
    result = []
    for member in members:
        if member.open_load >= member.capacity:
            continue
        member_skills = {skill.strip().lower() for skill in member.skills}
        result.append(Candidate(member, member.open_load, bool(skills & member_skills)))
    return result


def suggest_assignee(team: Team | None, category: Category | None = None) -> RoutingSuggestion:
    if team is None:
        return RoutingSuggestion(None, _("No team predicted, so no assignee."))
    skills = skills_for(category)
    candidates = candidates_for(team, skills)
    if not candidates:
        return RoutingSuggestion(
            None, _("Nobody in %(team)s is available with spare capacity.") % {"team": team.name}, candidates
        )
    skilled = [candidate for candidate in candidates if candidate.has_skill]
    pool = skilled or candidates
    best = min(pool, key=lambda c: (c.open_tickets, c.open_tickets / max(c.user.capacity, 1), c.user.email))
    user = best.user
    values = {
        "name": user.get_full_name(),
        "team": team.name,
        "open": best.open_tickets,
        "capacity": user.capacity,
        "count": len(pool),
        "skill": ", ".join(sorted(skills)),
    }
    if skilled:
        reasoning = (
            _(
                "%(name)s: in %(team)s with the skill %(skill)s, available, %(open)s open tickets of a capacity of "
                "%(capacity)s — the least loaded of %(count)s such agents."
            )
            % values
        )
    elif skills:
        reasoning = (
            _(
                "%(name)s: nobody available in %(team)s has the skill %(skill)s; available, %(open)s open tickets of "
                "a capacity of %(capacity)s — the least loaded of %(count)s team members."
            )
            % values
        )
    else:
        reasoning = (
            _(
                "%(name)s: in %(team)s, available, %(open)s open tickets of a capacity of %(capacity)s — the least "
                "loaded of %(count)s team members."
            )
            % values
        )
    return RoutingSuggestion(user, reasoning, candidates)
