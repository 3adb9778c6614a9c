"""Account security pages: one's sign-ins and sessions, and one's API tokens."""

from __future__ import annotations

from allauth.usersessions.models import UserSession
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from itsm.lib import useragents
from itsm.models import ApiToken
from itsm.security import actions
from itsm.security.forms import ApiTokenForm
from itsm.security.middleware import has_authenticator_app
from itsm.security.models import SignInEvent

RECENT_SIGN_INS = 20


def live_sessions(user: object):
    """The user's sessions that still open the site (one query; ended or expired ones left out)."""
    alive = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return UserSession.objects.filter(user=user, session_key__in=alive).order_by("-last_seen_at")


def _with_family(session: UserSession) -> UserSession:
    session.agent_family = useragents.family(session.user_agent)
    return session


@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "itsm/security/account.html",
        {
            "has_authenticator": has_authenticator_app(user),
            "sign_ins": SignInEvent.objects.of(user)[:RECENT_SIGN_INS],
            "sessions": [
                # Each session's browser as a family ("Firefox (Linux)"): the raw string is the title.
                _with_family(session)
                for session in live_sessions(user)
            ],
            "current_key": request.session.session_key,
        },
    )


@login_required
@require_POST
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    others = list(live_sessions(request.user).exclude(session_key=request.session.session_key))
    ended = actions.do_end_sessions(request.user, others, actor=request.user)
    messages.success(request, _("%(count)d other session(s) signed out.") % {"count": ended})
    return redirect("security:account")


@login_required
@require_POST
def end_session(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(UserSession, pk=pk, user=request.user)
    if session.session_key == request.session.session_key:
        messages.error(request, _("This is the session you are using: sign out instead."))
        return redirect("security:account")
    actions.do_end_sessions(request.user, [session], actor=request.user)
    if request.htmx:
        return trigger_client_event(HttpResponse(""), "sessionsChanged")
    messages.success(request, _("Session signed out."))
    return redirect("security:account")


@never_cache  # the page may show a new key: never keep it in a cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = ApiTokenForm(request.POST or None, owner=user)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                token, key = actions.do_create_api_token(
                    user,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    expires_at=form.expires_at(),
                    allowed_networks=form.cleaned_data["allowed_networks"],
                    actor=user,
                )
            except ValidationError as error:
                for field, field_errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, field_errors)
            else:
                created = {"token": token, "key": key}
                form = ApiTokenForm(owner=user)
        if created is None:
            status = 400
    return render(
        request,
        "itsm/security/tokens.html",
        {"form": form, "created": created, "tokens": ApiToken.objects.of(user).order_by("-created_at")},
        status=status,
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.of(request.user), pk=pk)
    revoked = actions.do_revoke_api_token(token, actor=request.user)
    if request.htmx:
        token.refresh_from_db()
        return render(request, "itsm/security/tokens.html#token", {"token": token})
    if revoked:
        messages.success(request, _("Token %(hint)s… revoked.") % {"hint": token.hint})
    return redirect("security:tokens")
