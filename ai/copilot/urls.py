"""Copilot pages, mounted under /ai/copilot/ in the ``ai`` namespace (names start with ``copilot``)."""

from django.urls import path

from ai.copilot import views
from ai.copilot.models import DecisionOutcome, RecommendationStatus

urlpatterns = [
    path("", views.copilot_page, name="copilot"),
    path("tickets/<int:pk>/", views.copilot_panel, name="copilot-panel"),
    path("ticket/", views.ticket_from_conversation, name="copilot-ticket"),
    path("runs/", views.run_list, name="copilot-runs"),
    path("runs/<int:pk>/", views.run_detail, name="copilot-run"),
    path("runs/<int:pk>/replay/", views.run_replay, name="copilot-replay"),
    path(
        "proposals/<int:pk>/accept/",
        views.proposal_decide,
        {"outcome": DecisionOutcome.ACCEPTED},
        name="copilot-accept",
    ),
    path(
        "proposals/<int:pk>/dismiss/",
        views.proposal_decide,
        {"outcome": DecisionOutcome.DISMISSED},
        name="copilot-dismiss",
    ),
    path("tickets/<int:pk>/quick-fix/", views.quick_fix_panel, name="copilot-quick-fix"),
    path("tickets/<int:pk>/quick-fix/decision/", views.quick_fix_decide, name="copilot-quick-fix-decision"),
    path("recommendations/", views.recommendation_list, name="copilot-recommendations"),
    path(
        "recommendations/<int:pk>/dismiss/",
        views.recommendation_close,
        {"status": RecommendationStatus.DISMISSED},
        name="copilot-recommendation-dismiss",
    ),
    path(
        "recommendations/<int:pk>/done/",
        views.recommendation_close,
        {"status": RecommendationStatus.DONE},
        name="copilot-recommendation-done",
    ),
]
