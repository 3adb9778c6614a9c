"""Who decides: the usual resolutions consumers make when they ask for an approval.

approvers = resolve_approvers(leads_of=[ticket.team])                 # the team's lead
approvers = resolve_approvers(roles=["admin"])                        # every admin
approvers = resolve_approvers(members_of=Team.objects.filter(name="CAB"))  # a board
"""

from __future__ import annotations

from collections.abc import Iterable

from itsm.models import Role, Team, User


def _team_ids(teams: Iterable[Team | int | None]) -> list[int]:
    return [team.pk if isinstance(team, Team) else team for team in teams if team is not None]


def resolve_approvers(
    *,
    users: Iterable[User] = (),
    roles: Iterable[str] = (),
    leads_of: Iterable[Team | int | None] = (),
    members_of: Iterable[Team | int | None] = (),
) -> list[User]:
    """Active users from any of the sources, each once, ordered by email."""
    roles = list(roles)
    unknown = set(roles) - set(Role.values)
    if unknown:
        raise ValueError(f"Unknown roles: {', '.join(sorted(unknown))}.")
    found: dict[int, User] = {user.pk: user for user in users if user is not None and user.is_active}
    lead_teams, member_teams = _team_ids(leads_of), _team_ids(members_of)
    queries = []
    if roles:
        queries.append(User.objects.filter(role__in=roles))
    if lead_teams:
        queries.append(User.objects.filter(led_teams__in=lead_teams))
    if member_teams:
        queries.append(User.objects.filter(teams__in=member_teams))
    for query in queries:
        for user in query.active().distinct():
            found.setdefault(user.pk, user)
    return sorted(found.values(), key=lambda user: user.email)
