"""Security workflows, each audited: API tokens, two-factor reset, lockouts, sessions.

Pages, the admin and commands call these; none writes the audit itself.
"""

from __future__ import annotations

from datetime import datetime

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from itsm.lib.networks import parse_networks
from itsm.models import ApiToken, TokenScope, User
from itsm.security import audit, signins
from itsm.security.models import SecurityAction

TOKEN_NAME_MAX = ApiToken._meta.get_field("name").max_length


def token_state(token: ApiToken) -> dict:
    return {
        "name": token.name,
        "scope": token.scope,
        "hint": token.hint,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "allowed_networks": token.allowed_networks,
    }


def check_api_token(
    owner: User, *, name: str, scope: str, expires_at: datetime | None, allowed_networks: str
) -> dict[str, list[str]]:
    """The field errors of a token request (empty when it is fine)."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = [_("Give the token a name (what uses it).")]
    elif len(name) > TOKEN_NAME_MAX:
        errors["name"] = [_("At most %(max)d characters.") % {"max": TOKEN_NAME_MAX}]
    if scope not in TokenScope.values:
        errors["scope"] = [_("Unknown scope %(scope)s.") % {"scope": scope}]
    elif scope not in TokenScope.offered_to(owner):
        errors["scope"] = [
            _("A %(role)s cannot hold a token with the %(scope)s scope.")
            % {"role": owner.get_role_display(), "scope": scope}
        ]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = [_("The expiry must be in the future.")]
    try:
        parse_networks(allowed_networks)
    except ValidationError as error:
        errors["allowed_networks"] = list(error.messages)
    return errors


def do_create_api_token(
    owner: User,
    *,
    name: str,
    scope: str,
    expires_at: datetime | None = None,
    allowed_networks: str = "",
    actor: User | None,
) -> tuple[ApiToken, str]:
    """A new token of ``owner`` and its key, which is shown once. Raises ``ValidationError``."""
    errors = check_api_token(
        owner, name=name, scope=scope, expires_at=expires_at, allowed_networks=allowed_networks
    )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        token, key = ApiToken.issue(
            owner,
            name=name.strip(),
            scope=scope,
            expires_at=expires_at,
            allowed_networks=allowed_networks.strip(),
        )
        audit.record(
            SecurityAction.TOKEN_CREATED,
            target=token,
            target_label=f"{token.hint}… {owner.email}",
            after=token_state(token),
            actor=actor,
        )
    return token, key


def do_revoke_api_token(token: ApiToken, *, actor: User | None) -> bool:
    """Revoke a token; False (and nothing recorded) when it already was."""
    with transaction.atomic():
        if not token.revoke():
            return False
        audit.record(
            SecurityAction.TOKEN_REVOKED,
            target=token,
            target_label=f"{token.hint}… {token.user.email}",
            before=token_state(token),
            actor=actor,
        )
    return True


def do_change_api_token(token: ApiToken, before: dict, *, actor: User | None) -> None:
    """Record an edit of a token's name, expiry or networks (the admin saves the row)."""
    after = token_state(token)
    changed = sorted(field for field in after if before.get(field) != after[field])
    if changed:
        audit.record(
            SecurityAction.TOKEN_CHANGED,
            target=token,
            target_label=f"{token.hint}… {token.user.email}",
            before={field: before.get(field) for field in changed},
            after={field: after[field] for field in changed},
            actor=actor,
        )


def do_reset_two_factor(user: User, *, actor: User | None) -> int:
    """Remove the user's authenticators (app, recovery codes) and end their sessions, so their
    next sign-in sets two-factor up again. Returns how many authenticators were removed."""
    with transaction.atomic():
        types = sorted(Authenticator.objects.filter(user=user).values_list("type", flat=True))
        removed, _detail = Authenticator.objects.filter(user=user).delete()
        sessions = list(UserSession.objects.filter(user=user))
        for session in sessions:
            session.end()
        audit.record(
            SecurityAction.TWO_FACTOR_RESET,
            target=user,
            target_label=user.email,
            before={"authenticators": types},
            after={"authenticators": [], "sessions_ended": len(sessions)},
            actor=actor,
        )
    return removed


def do_lift_lockout(*, email: str = "", ip: str = "", actor: User | None) -> int:
    """Forget the failed sign-ins counted against an email and/or an address."""
    cleared = signins.lift_lockout(email=email, ip=ip)
    audit.record(
        SecurityAction.LOCKOUT_LIFTED,
        target=("sign_in", email or ip),
        target_label=email or ip,
        after={"email": email, "ip": ip, "cleared": cleared},
        actor=actor,
    )
    return cleared


def do_end_sessions(user: User, sessions: list, *, actor: User | None) -> int:
    """End these sessions of ``user`` (allauth ``UserSession`` rows); returns how many."""
    ended = 0
    for session in sessions:
        if session.user_id != user.pk:
            continue
        session.end()
        ended += 1
    if ended:
        audit.record(
            SecurityAction.SESSIONS_ENDED,
            target=user,
            target_label=user.email,
            after={"sessions_ended": ended},
            actor=actor,
        )
    return ended
