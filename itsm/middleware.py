import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

# How long a client should wait before retrying while the database does not answer.
DATABASE_RETRY_AFTER_SECONDS = 5


def is_database_unavailable(error: BaseException | None) -> bool:
    """Errors of a database that does not answer (down, restarting, connections cut, out of
    connections): the same request may succeed a moment later."""
    return isinstance(error, OperationalError | InterfaceError)


def database_unavailable(request: HttpRequest, error: BaseException) -> HttpResponse:
    """503 with ``Retry-After``: JSON under /api/, a short page elsewhere (no template: the base
    layout reads the user and the notifications from the database)."""
    logger.warning(
        "database unavailable for %s %s: %s", request.method, request.path, error.__class__.__name__
    )
    message = _("The database is not available at the moment. Please retry in a few seconds.")
    if request.path_info.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=503)
    else:
        title = _("Service unavailable")
        response = HttpResponse(
            format_html(
                '<!doctype html><html><head><meta charset="utf-8"><title>{}</title></head>'
                "<body><h1>{}</h1><p>{}</p></body></html>",
                title,
                title,
                message,
            ),
            status=503,
        )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A view that fails because the database does not answer gets a 503 at once instead of a
    500 page; errors raised outside views reach the same answer through ``handler500``
    (``itsm.views.server_error``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_database_unavailable(exception):
            return database_unavailable(request, exception)
        return None


class SecurityHeadersMiddleware:
    """Content-Security-Policy on every response (Django 5.2 has no built-in CSP)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(
            "Content-Security-Policy",
            with_form_targets(settings.CONTENT_SECURITY_POLICY, getattr(request, "csp_form_action", ())),
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def with_form_targets(policy: str, origins: Iterable[str]) -> str:
    """The policy with ``origins`` added to its form-action directive (a page whose form posts to a
    view that redirects to another site, such as single sign-on, needs that site allowed)."""
    origins = list(origins)
    if not origins:
        return policy
    directives = [directive.strip() for directive in policy.split(";") if directive.strip()]
    for index, directive in enumerate(directives):
        if directive.split()[0] == "form-action":
            directives[index] = " ".join([directive, *origins])
    return "; ".join(directives)
