from django.urls import include, path

urlpatterns = [
    path("ai/", include("ai.knowledge.api_urls")),
    path("ai/", include("ai.triage.api_urls")),
    path("ai/", include("ai.copilot.api_urls")),
]
