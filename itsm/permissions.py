"""Role permissions for the API. Object visibility lives in each domain's ``visible_to``."""

from rest_framework import permissions


class IsAgent(permissions.BasePermission):
    """Agents and admins."""

    message = "This needs an agent or admin account."

    def has_permission(self, request, view):  # type: ignore[no-untyped-def]
        return bool(request.user and request.user.is_authenticated and request.user.is_agent)


class IsAdmin(permissions.BasePermission):
    message = "This needs an admin account."

    def has_permission(self, request, view):  # type: ignore[no-untyped-def]
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)


class ReadOnlyForViewers(permissions.BasePermission):
    """Viewers may read; writes need another role."""

    message = "Viewers have read-only access."

    def has_permission(self, request, view):  # type: ignore[no-untyped-def]
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.can_write())
