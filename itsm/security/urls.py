from django.urls import path

from itsm.security import views

app_name = "security"

urlpatterns = [
    path("security/", views.account, name="account"),
    path("security/sessions/end-others/", views.end_other_sessions, name="end-other-sessions"),
    path("security/sessions/<int:pk>/end/", views.end_session, name="end-session"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
