from django.urls import include, path

urlpatterns = [
    path("integrations/jira/", include("integrations.jira.api_urls")),
    path("webhooks/", include("integrations.webhooks.api_urls")),
    path("integrations/email/", include("integrations.email.api_urls")),
    path("integrations/chat/", include("integrations.chat.api_urls")),
]
