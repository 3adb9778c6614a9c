"""Triage pages, mounted under /ai/triage/ in the ``ai`` namespace (names start with ``triage-``)."""

from django.urls import path

from ai.triage import views

urlpatterns = [
    path("tickets/<int:pk>/", views.triage_panel, name="triage-panel"),
    path("tickets/<int:pk>/run/", views.triage_run, name="triage-run"),
    path("suggestions/<int:pk>/accept/", views.suggestion_accept, name="triage-accept"),
    path("suggestions/<int:pk>/reject/", views.suggestion_reject, name="triage-reject"),
    path("metrics/", views.metrics_page, name="triage-metrics"),
]
