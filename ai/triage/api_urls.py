"""Mounted at /api/ai/."""

from django.urls import path

from ai.triage import api

urlpatterns = [
    path("classify/", api.classify, name="ai-classify"),
    path("metrics/", api.triage_metrics, name="ai-triage-metrics"),
    path("tickets/<int:pk>/triage/", api.ticket_triage, name="ai-ticket-triage"),
    path("suggestions/<int:pk>/accept/", api.accept_suggestion, name="ai-suggestion-accept"),
    path("suggestions/<int:pk>/reject/", api.reject_suggestion, name="ai-suggestion-reject"),
]
