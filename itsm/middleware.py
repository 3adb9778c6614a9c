from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


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
