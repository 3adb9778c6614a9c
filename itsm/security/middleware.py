"""Request-wide security: who acts (for the audit), network allowlists, and enforced two-factor."""

from __future__ import annotations

import logging
from collections.abc import Callable

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from itsm.lib.networks import address_allowed, client_ip
from itsm.security import audit
from itsm.security.models import SecuritySettings, TwoFactorPolicy
from itsm.security.signins import SSO_SESSION_KEY

logger = logging.getLogger("itsm.security")

API_PREFIX = "/api/"
# Set on the session once the user is known to have an authenticator app (saves a query per request).
TWO_FACTOR_SESSION_KEY = "itsm_two_factor_ok"
# What a person who must set up two-factor may still open: the set-up itself (allauth's mfa_*
# pages, and the password prompt before it), signing out, and the language switch.
TWO_FACTOR_OPEN_URL_NAMES = {"account_reauthenticate", "account_logout", "set_language"}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def refused(request: HttpRequest, message: str) -> HttpResponse:
    """403 without saying which addresses would be allowed."""
    if is_api(request):
        return JsonResponse({"detail": message}, status=403)
    return render(request, "itsm/security/refused.html", {"message": message}, status=403)


class RequestContextMiddleware:
    """Attributes security events recorded while serving a request to its user and address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit.serving(request):
            return self.get_response(request)


class NetworkAllowlistMiddleware:
    """The admin site only from the admin allowlist; agents and admins only from the agent
    allowlist (pages, and the API with a session: token calls are checked by the token
    authentication). Refusals are logged and answer 403."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        policy = SecuritySettings.current()
        admin_networks = policy.admin_networks()
        agent_networks = policy.agent_networks()
        if admin_networks or agent_networks:
            ip = client_ip(request)
            if (
                admin_networks
                and request.path.startswith(reverse("admin:index"))
                and not address_allowed(ip, admin_networks)
            ):
                logger.warning(
                    "Refused %s %s from %s: outside the admin allowlist", request.method, request.path, ip
                )
                return refused(request, _("The admin site cannot be reached from this address."))
            user = request.user
            if (
                agent_networks
                and user.is_authenticated
                and user.is_agent
                and not address_allowed(ip, agent_networks)
                and request.path != reverse("account_logout")
            ):
                logger.warning(
                    "Refused %s %s for %s from %s: outside the agent allowlist",
                    request.method,
                    request.path,
                    user.pk,
                    ip,
                )
                return refused(request, _("Your account cannot be used from this address."))
        return self.get_response(request)


class RequireTwoFactorMiddleware:
    """People whose role must use two-factor (security settings) and have no authenticator app
    are sent to set one up before anything else; the API with a session answers 403. Sessions
    opened through single sign-on count when the settings trust the identity provider."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        policy = SecuritySettings.current()
        if policy.two_factor_required_for == TwoFactorPolicy.NOBODY:
            return None
        user = request.user
        if not user.is_authenticated or not policy.requires_two_factor(user):
            return None
        session = request.session
        if session.get(TWO_FACTOR_SESSION_KEY) == user.pk:
            return None
        if policy.two_factor_trusts_sso and session.get(SSO_SESSION_KEY):
            return None
        if has_authenticator_app(user):
            session[TWO_FACTOR_SESSION_KEY] = user.pk
            return None
        match = request.resolver_match
        url_name = match.url_name if match is not None else ""
        if url_name and (url_name.startswith("mfa_") or url_name in TWO_FACTOR_OPEN_URL_NAMES):
            return None
        if is_api(request):
            return JsonResponse(
                {"detail": _("Set up two-factor authentication before using the API with this session.")},
                status=403,
            )
        messages.warning(
            request,
            _(
                "Your organisation requires two-factor authentication: set up an authenticator app to continue."
            ),
        )
        if getattr(request, "htmx", False):
            # An HTMX request would swap the set-up page into a fragment: send the whole page there.
            return HttpResponse(status=204, headers={"HX-Redirect": reverse("mfa_activate_totp")})
        return HttpResponseRedirect(reverse("mfa_activate_totp"))


def has_authenticator_app(user: object) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
