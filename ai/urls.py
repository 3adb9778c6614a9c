from django.urls import include, path

app_name = "ai"

urlpatterns = [
    path("", include("ai.knowledge.urls")),
    path("triage/", include("ai.triage.urls")),
    path("copilot/", include("ai.copilot.urls")),
]
