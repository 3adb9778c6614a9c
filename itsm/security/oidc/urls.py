"""Included by allauth (``/accounts/oidc/<provider_id>/login/`` and ``…/login/callback/``)."""

from allauth.socialaccount import app_settings
from django.urls import include, path, re_path

from itsm.security.oidc import views

urlpatterns = [
    path(
        f"{app_settings.OPENID_CONNECT_URL_PREFIX}/",
        include(
            [
                re_path(
                    r"^(?P<provider_id>[^/]+)/",
                    include(
                        [
                            path("login/", views.login, name="openid_connect_login"),
                            path("login/callback/", views.callback, name="openid_connect_callback"),
                        ]
                    ),
                )
            ]
        ),
    )
]
