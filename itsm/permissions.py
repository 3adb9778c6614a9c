"""Role permissions for the API. Object visibility lives in each domain's ``visible_to``."""

from rest_framework import permissions


class IsAgent(permissions.BasePermission):
    """Agents and admins."""

    message = "This needs an agent or admin account."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_agent)


class IsAdmin(permissions.BasePermission):
    message = "This needs an admin account."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)


class ReadOnlyForViewers(permissions.BasePermission):
    """Signed-in callers; viewers may read, writes need another role.

    It checks authentication itself, so a view listing only this permission (replacing the
    default ``IsAuthenticated``) is still closed to anonymous callers.
    """

    message = "Viewers have read-only access."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or request.user.can_write()
