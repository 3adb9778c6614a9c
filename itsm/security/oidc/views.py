"""Sign-in and callback views of the strict provider (allauth's, with the strict adapter)."""

from __future__ import annotations

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.http import Http404, HttpRequest, HttpResponse

from itsm.security.oidc.provider import StrictOAuth2Adapter


@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2LoginView.adapter_view(StrictOAuth2Adapter(request, provider_id))(request)
    except SocialApp.DoesNotExist as error:
        raise Http404 from error


@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2CallbackView.adapter_view(StrictOAuth2Adapter(request, provider_id))(request)
    except SocialApp.DoesNotExist as error:
        raise Http404 from error
