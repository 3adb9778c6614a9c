"""Mounted at /api/ai/."""

from django.urls import path

from ai.copilot import api

urlpatterns = [
    path("copilot/", api.ask, name="ai-copilot"),
    path("copilot/runs/", api.run_list, name="ai-copilot-runs"),
    path("copilot/runs/<int:pk>/", api.run_read, name="ai-copilot-run"),
    path("copilot/runs/<int:pk>/replay/", api.run_replay, name="ai-copilot-replay"),
    path("copilot/proposals/<int:pk>/accept/", api.proposal_accept, name="ai-copilot-accept"),
    path("copilot/proposals/<int:pk>/dismiss/", api.proposal_dismiss, name="ai-copilot-dismiss"),
    path("recommendations/", api.recommendation_list, name="ai-recommendations"),
    path("recommendations/<int:pk>/dismiss/", api.recommendation_dismiss, name="ai-recommendation-dismiss"),
    path("recommendations/<int:pk>/done/", api.recommendation_done, name="ai-recommendation-done"),
    path("tickets/<int:pk>/quick-fix/", api.quick_fix, name="ai-quick-fix"),
    path("tickets/<int:pk>/quick-fix/decision/", api.quick_fix_decide, name="ai-quick-fix-decision"),
]
