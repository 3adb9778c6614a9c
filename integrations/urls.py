from django.urls import include, path

app_name = "integrations"

urlpatterns = [
    path("jira/", include("integrations.jira.urls")),
    path("webhooks/", include("integrations.webhooks.urls")),
]
