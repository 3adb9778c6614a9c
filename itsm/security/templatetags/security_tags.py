"""The single sign-on buttons of the sign-in page."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template

register = template.Library()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


@register.simple_tag(takes_context=True)
def allow_sso_form_targets(context: template.Context, providers: list) -> str:
    """Each button posts to our sign-in view, which redirects to the identity provider: the
    page's Content-Security-Policy (form-action) must allow that provider's origin, or the
    browser stops the redirect. ``SecurityHeadersMiddleware`` adds what is listed here."""
    request = context.get("request")
    if request is None:
        return ""
    origins = list(getattr(request, "csp_form_action", []))
    for provider in providers:
        origin = _origin(
            str(getattr(provider, "app", None) and provider.app.settings.get("server_url", "") or "")
        )
        if origin and origin not in origins:
            origins.append(origin)
    request.csp_form_action = origins
    return ""
