"""How an identity provider's claims become a role and teams here.

The mapping lives in the provider's settings: ``SSO_OIDC_*`` variables for the provider configured
by environment, or the *settings* JSON of a social application in the admin, for example::

    {"server_url": "https://login.example.com/realms/staff",
     "groups_claim": "groups",
     "role_map": {"itsm-admins": "admin", "itsm-agents": "agent"},
     "team_map": {"itsm-network": "Network"},
     "trust_email": false}

With a ``role_map``, the identity provider decides the role at every single sign-on: the highest
role of the person's mapped groups (admin > agent > viewer > requester), a requester when none
maps. Without one, new people are requesters and roles are set here. Teams named in ``team_map``
follow the groups at every sign-on (added and removed); other teams are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from itsm.models import Role

# Highest first: a person in several mapped groups gets the strongest role.
ROLE_PRECEDENCE = [Role.ADMIN, Role.AGENT, Role.VIEWER, Role.USER]
SETTING_KEYS = {
    "server_url",
    "groups_claim",
    "role_map",
    "team_map",
    "trust_email",
    "token_auth_method",
    "oauth_pkce_enabled",
    "fetch_userinfo",
    "scope",
    "auth_params",
    "uid_field",
    "hidden",
}


class MappingError(ValueError):
    """The provider settings are not usable; the message says which key and why."""


@dataclass(frozen=True)
class ClaimMapping:
    groups_claim: str = "groups"
    role_map: dict[str, str] = field(default_factory=dict)
    team_map: dict[str, str] = field(default_factory=dict)
    trust_email: bool = False

    @classmethod
    def parse(cls, data: object) -> ClaimMapping:
        """Read and check a provider's settings (raises ``MappingError`` with a clear message)."""
        if not isinstance(data, dict):
            raise MappingError(_("The settings must be a JSON object."))
        unknown = sorted(set(data) - SETTING_KEYS)
        if unknown:
            raise MappingError(
                _("Unknown settings: %(unknown)s (known: %(known)s).")
                % {"unknown": ", ".join(unknown), "known": ", ".join(sorted(SETTING_KEYS))}
            )
        server_url = data.get("server_url")
        if not isinstance(server_url, str) or not server_url.startswith(("https://", "http://")):
            raise MappingError(_("server_url must be the issuer's http(s) address."))
        groups_claim = data.get("groups_claim", "groups")
        if not isinstance(groups_claim, str) or not groups_claim:
            raise MappingError(_("groups_claim must be a claim name."))
        role_map = _string_map(data.get("role_map", {}), "role_map")
        bad_roles = sorted({role for role in role_map.values() if role not in Role.values})
        if bad_roles:
            raise MappingError(
                _("role_map names unknown roles: %(bad)s (roles: %(roles)s).")
                % {"bad": ", ".join(bad_roles), "roles": ", ".join(Role.values)}
            )
        team_map = _string_map(data.get("team_map", {}), "team_map")
        trust_email = data.get("trust_email", False)
        if not isinstance(trust_email, bool):
            raise MappingError(_("trust_email must be true or false."))
        return cls(groups_claim=groups_claim, role_map=role_map, team_map=team_map, trust_email=trust_email)

    def groups(self, claims: dict) -> set[str]:
        value = claims.get(self.groups_claim, [])
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if not isinstance(value, list):
            return set()
        return {str(group) for group in value if str(group).strip()}

    def role_for(self, claims: dict) -> str | None:
        """The role these claims give, or None when roles are not mapped (set here instead)."""
        if not self.role_map:
            return None
        mapped = {self.role_map[group] for group in self.groups(claims) if group in self.role_map}
        return next((role for role in ROLE_PRECEDENCE if role in mapped), Role.USER)

    def teams_for(self, claims: dict) -> set[str]:
        return {self.team_map[group] for group in self.groups(claims) if group in self.team_map}

    def managed_teams(self) -> set[str]:
        return set(self.team_map.values())


def _string_map(value: object, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(item, str) and key and item for key, item in value.items()
    ):
        raise MappingError(
            _('%(name)s must map group names to names, e.g. {"itsm-agents": "agent"}.') % {"name": name}
        )
    return dict(value)


def parse_pairs(text: str) -> dict[str, str]:
    """``"group-a=admin, group-b=agent"`` (an environment variable) as a dict."""
    pairs: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise MappingError(
                _("Expected group=value pairs separated by commas, not “%(part)s”.") % {"part": part.strip()}
            )
        pairs[key.strip()] = value.strip()
    return pairs
