"""What each API token scope may call. A scope narrows what the user's role allows, never widens it.

=============  ==================================================================================
``read``       reading (GET, HEAD, OPTIONS, and the POST endpoints marked ``@read_scope``, such as
               search), on every endpoint the role may read except admin-only ones.
``tickets``    ``read`` plus changes through the service-desk endpoints: tickets, comments,
               exports, SLA clocks, problems, knowledge and AI.
``integrations`` ``tickets`` plus the integration endpoints (``/api/integrations/…``,
               ``/api/webhooks/…``): Jira, inbound mail, chat channels, webhook subscriptions.
               Throttled with a higher limit.
``admin``      everything the role allows, admin-only endpoints included.
=============  ==================================================================================

Admin-only endpoints are the views guarded by ``itsm.permissions.IsAdmin`` and the writes listed
in ``ADMIN_WRITES``. The check runs in token authentication, before the view, so no endpoint can
forget it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _
from rest_framework.permissions import SAFE_METHODS

from itsm.models import TokenScope
from itsm.permissions import IsAdmin

# Path prefixes of the integration endpoints.
INTEGRATION_PATHS = ("/api/integrations/", "/api/webhooks/")
# Writes that only admins may make although their view is not guarded by ``IsAdmin``.
ADMIN_WRITES = ("/api/sla/policies/",)


def read_scope(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an ``@api_view`` that answers a POST without changing anything (a search, a dry run),
    so ``read`` tokens may call it. Put it above ``@api_view``."""
    view.cls.required_scope = TokenScope.READ
    return view


def _is_admin_only(view: object) -> bool:
    permission_classes = getattr(view, "permission_classes", ()) or ()
    return any(isinstance(cls, type) and issubclass(cls, IsAdmin) for cls in permission_classes)


def required_scope(method: str, path: str, view: object | None) -> TokenScope:
    """The narrowest scope that may make this request."""
    integration = path.startswith(INTEGRATION_PATHS)
    if integration:
        # The integration endpoints are admin-only views: an integrations token is made for them.
        return (
            TokenScope.READ
            if method in SAFE_METHODS and not _is_admin_only(view)
            else TokenScope.INTEGRATIONS
        )
    if _is_admin_only(view) or (method not in SAFE_METHODS and path.startswith(ADMIN_WRITES)):
        return TokenScope.ADMIN
    if method in SAFE_METHODS or getattr(view, "required_scope", None) == TokenScope.READ:
        return TokenScope.READ
    return TokenScope.TICKETS


def refusal(scope: str, method: str, path: str, view: object | None) -> str | None:
    """Why a token of ``scope`` may not make this request, or None when it may."""
    needed = required_scope(method, path, view)
    if TokenScope.rank(scope) >= TokenScope.rank(needed):
        return None
    if scope == TokenScope.READ:
        return _("This token is read-only.")
    return _("This token's scope (%(scope)s) does not allow this; it needs the %(needed)s scope.") % {
        "scope": scope,
        "needed": needed,
    }
