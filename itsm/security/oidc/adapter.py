"""Single sign-on policy (allauth's social account adapter): who may come in, and as what.

- the ID token's nonce must be the one sent with this sign-in (replay of another sign-in's token);
- an email address is required; an existing local account is joined only when the identity
  provider vouches for the address (``email_verified``, or ``trust_email`` for the provider);
- people new here are created at once (``SSO_CREATE_USERS``) as requesters, or with the role and
  teams their groups map to (``claims.ClaimMapping``), re-applied at every sign-on.
Every refusal is recorded in the sign-in log and shown on a page that says why.
"""

from __future__ import annotations

import logging

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render
from django.utils.translation import gettext as _

from itsm.models import Team, User
from itsm.security import audit, signins
from itsm.security.models import FailureReason, SignInMethod, SignInResult
from itsm.security.oidc.claims import ClaimMapping, MappingError
from itsm.security.oidc.provider import NONCE_STATE_KEY

logger = logging.getLogger(__name__)


def claims_of(sociallogin) -> dict:
    """The ID token's claims, completed by the userinfo answer when there is one."""
    extra = sociallogin.account.extra_data or {}
    return {**(extra.get("id_token") or {}), **(extra.get("userinfo") or {})}


def mapping_of(sociallogin, request: HttpRequest) -> ClaimMapping:
    provider = sociallogin.account.get_provider(request)
    return ClaimMapping.parse(provider.app.settings)


def apply_claims(user: User, claims: dict, mapping: ClaimMapping) -> None:
    """Give ``user`` the role and mapped teams their claims say (audited as ``system:sso``)."""
    with audit.acting_as(label="system:sso"):
        role = mapping.role_for(claims)
        if role is not None and role != user.role:
            user.role = role
            user.save(update_fields=["role", "is_staff"])
        managed = mapping.managed_teams()
        if not managed:
            return
        wanted = mapping.teams_for(claims)
        teams = {team.name: team for team in Team.objects.filter(name__in=managed)}
        missing = wanted - teams.keys()
        if missing:
            logger.warning("SSO team_map names teams that do not exist: %s", ", ".join(sorted(missing)))
        current = set(user.teams.filter(name__in=managed).values_list("name", flat=True))
        for name in wanted - current:
            if name in teams:
                teams[name].members.add(user)
        for name in current - wanted:
            teams[name].members.remove(user)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin):
        # Just-in-time accounts for single sign-on, whatever ACCOUNT_ALLOW_REGISTRATION says.
        return settings.SSO_CREATE_USERS

    def pre_social_login(self, request, sociallogin):
        claims = claims_of(sociallogin)
        email = (sociallogin.user.email if sociallogin.user else "") or str(claims.get("email") or "")
        expected_nonce = (sociallogin.state or {}).get(NONCE_STATE_KEY)
        id_token = (sociallogin.account.extra_data or {}).get("id_token") or {}
        if not expected_nonce or id_token.get("nonce") != expected_nonce:
            self.refuse(
                request,
                email,
                _("The identity provider's answer does not belong to this sign-in. Try again."),
            )
        try:
            mapping = mapping_of(sociallogin, request)
        except MappingError as error:
            logger.error("Single sign-on settings are not usable: %s", error)
            self.refuse(
                request, email, _("Single sign-on is misconfigured; an admin has to fix its settings.")
            )
        if not email:
            self.refuse(request, "", _("Your identity provider sent no email address, which is needed here."))
        if sociallogin.is_existing:
            apply_claims(sociallogin.user, claims, mapping)
        elif User.objects.filter(email__iexact=email).exists():
            self.refuse(
                request,
                email,
                _(
                    "An account with this email address already exists, and your identity provider "
                    "did not confirm the address. Ask an admin to link the accounts."
                ),
            )

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        apply_claims(user, claims_of(sociallogin), mapping_of(sociallogin, request))
        return user

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        name = data.get("name") or " ".join(
            part for part in (data.get("first_name"), data.get("last_name")) if part
        )
        if name:
            user.full_name = name[:200]
        return user

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        logger.warning("Single sign-on failed (%s): %s", error, exception)
        signins.record(
            request, method=SignInMethod.SSO, result=SignInResult.FAILURE, reason=FailureReason.SSO_ERROR
        )

    def refuse(self, request: HttpRequest, email: str, message: str) -> None:
        signins.record(
            request,
            method=SignInMethod.SSO,
            result=SignInResult.FAILURE,
            email=email,
            reason=FailureReason.SSO_REFUSED,
        )
        response = render(request, "itsm/security/sso_refused.html", {"message": message}, status=403)
        raise ImmediateHttpResponse(response)
