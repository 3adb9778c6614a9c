from django.urls import path
from rest_framework.routers import SimpleRouter

from sla import api

router = SimpleRouter()
router.register("sla/policies", api.SLAPolicyViewSet, basename="sla-policy")

urlpatterns = [
    path("sla/ticket/<int:pk>/", api.ticket_sla, name="sla-ticket"),
    path("sla/ticket/<int:pk>/sync/", api.ticket_sync, name="sla-ticket-sync"),
    path("sla/ticket/<int:pk>/ai-risk/latest/", api.ticket_risk_latest, name="sla-ticket-ai-risk-latest"),
    path("sla/run/", api.run, name="sla-run"),
    path("sla/stats/", api.stats, name="sla-stats"),
    *router.urls,
]
