"""Who may sign in how, and from where: the checks the adapters and the middleware share."""

from __future__ import annotations

from allauth.socialaccount.adapter import get_adapter
from django.http import HttpRequest
from django.utils.translation import gettext as _

from itsm.lib.networks import address_allowed, client_ip
from itsm.models import Role, User
from itsm.security.models import FailureReason, SecuritySettings, SignInMethod

OIDC_PROVIDER = "openid_connect"


def sso_apps(request: HttpRequest | None) -> list:
    """The single sign-on applications configured (environment or admin)."""
    return get_adapter().list_apps(request, provider=OIDC_PROVIDER)


def sso_name(request: HttpRequest | None) -> str:
    apps = sso_apps(request)
    return apps[0].name if apps else ""


def agent_network_allowed(request: HttpRequest, user: User) -> bool:
    if not user.is_agent:
        return True
    return address_allowed(client_ip(request), SecuritySettings.current().agent_networks())


def sign_in_refusal(
    request: HttpRequest, user: User, method: SignInMethod
) -> tuple[FailureReason, str] | None:
    """Why this person may not finish signing in this way from here, or None."""
    if not agent_network_allowed(request, user):
        return FailureReason.NETWORK, _("Signing in from this network is not allowed for your account.")
    if (
        method == SignInMethod.PASSWORD
        and user.role == Role.AGENT
        and not user.is_superuser
        and SecuritySettings.current().sso_required_for_agents
    ):
        name = sso_name(request)
        if name:  # never lock agents out when no single sign-on is configured
            return FailureReason.SSO_REQUIRED, _(
                "Agents sign in with single sign-on: use the “%(provider)s” button below."
            ) % {"provider": name}
    return None
