"""API token authentication: ``Authorization: Token <key>`` or ``Bearer <key>``; keys stored hashed.

A token is refused when it is unknown, revoked, expired, its user is deactivated, or the caller's
address is outside the token's allowed networks (or, for agents and admins, outside the agent
allowlist). A request beyond the token's scope is refused with 403 (``itsm.security.scopes``).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from itsm.lib.networks import address_allowed, client_ip, parse_networks
from itsm.models import ApiToken, User
from itsm.security import signins
from itsm.security.models import SecuritySettings
from itsm.security.scopes import refusal

# Writing last_used_at on every request would turn each read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class HashedTokenAuthentication(BaseAuthentication):
    keywords = (b"token", b"bearer")

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header: expected 'Token <key>'."))
        try:
            key = parts[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from error
        user, token = self.authenticate_key(key, request)
        self.check_scope(token, request)
        return user, token

    def authenticate_key(self, key: str, request) -> tuple[User, ApiToken]:
        ip = client_ip(request)
        token = ApiToken.objects.select_related("user").filter(digest=ApiToken.hash_key(key)).first()
        if token is None or token.is_revoked:
            signins.record_token_failure(request, token)
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        if token.is_expired:
            signins.record_token_failure(request, token)
            raise exceptions.AuthenticationFailed(_("This token has expired."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive."))
        if not self.network_allowed(token, ip):
            signins.record_token_failure(request, token, refused_network=True)
            raise exceptions.PermissionDenied(_("Access from this address is not allowed."))
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            # Compare-and-set on the old value: of concurrent first calls in a minute, one writes.
            ApiToken.objects.filter(pk=token.pk, last_used_at=token.last_used_at).update(
                last_used_at=now, last_used_ip=ip
            )
        return token.user, token

    @staticmethod
    def network_allowed(token: ApiToken, ip: str) -> bool:
        if not address_allowed(ip, parse_networks(token.allowed_networks)):
            return False
        if token.user.is_agent:
            return address_allowed(ip, SecuritySettings.current().agent_networks())
        return True

    @staticmethod
    def check_scope(token: ApiToken, request) -> None:
        view = (getattr(request, "parser_context", None) or {}).get("view")
        message = refusal(token.scope, request.method, request.path, view)
        if message is not None:
            raise exceptions.PermissionDenied(message)

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 to anonymous calls.
        return 'Token realm="api"'
