"""API throttles, counted in PostgreSQL (``RateCounter``: one statement per request, shared by
every web process and node).

- ``ApiRateThrottle`` (every API view): per token, or per signed-in user for session calls
  (``API_THROTTLE_USER``); higher for ``integrations`` and ``admin`` tokens
  (``API_THROTTLE_INTEGRATION``); per client address for anonymous calls (``API_THROTTLE_ANON``).
- ``WebhookRateThrottle``: inbound webhooks, per sender address (``API_THROTTLE_WEBHOOK``).

Over the limit the API answers 429 with ``Retry-After`` (DRF's ``Throttled``). The window is
fixed (a minute starts on the minute): simple and one row per key, at the price of allowing up
to twice the rate across a window's edge.
"""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from itsm.lib.networks import client_ip
from itsm.models import ApiToken, TokenScope
from itsm.security.models import RateCounter

HIGH_VOLUME_SCOPES = {TokenScope.INTEGRATIONS, TokenScope.ADMIN}


class _RequestRateThrottle(SimpleRateThrottle):
    """A throttle whose rate depends on the request (DRF's is fixed per class)."""

    def __init__(self) -> None:  # DRF reads a fixed rate here; ours is chosen per request
        pass

    def rate_for(self, request) -> str:
        raise NotImplementedError

    def allow_request(self, request, view):
        self.rate = self.rate_for(request)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        hits, self.remaining = RateCounter.hit(
            self.get_cache_key(request, view), self.duration, at=time.time()
        )
        return hits <= self.num_requests

    def wait(self) -> float:
        return max(self.remaining, 1.0)


class ApiRateThrottle(_RequestRateThrottle):
    def rate_for(self, request) -> str:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None and token.scope in HIGH_VOLUME_SCOPES:
            return settings.API_THROTTLE_INTEGRATION
        if request.user and request.user.is_authenticated:
            return settings.API_THROTTLE_USER
        return settings.API_THROTTLE_ANON

    def get_cache_key(self, request, view) -> str:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None:
            ident = f"token:{token.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{client_ip(request._request)}"
        return f"itsm:throttle:api:{ident}"


class WebhookRateThrottle(_RequestRateThrottle):
    def rate_for(self, request) -> str:
        return settings.API_THROTTLE_WEBHOOK

    def get_cache_key(self, request, view) -> str:
        return f"itsm:throttle:webhook:{client_ip(request._request)}"
