from django.urls import path
from rest_framework.routers import SimpleRouter

from runbooks import api

router = SimpleRouter()
router.register("runbooks/connections", api.ConnectionViewSet, basename="runbook-connection")
router.register("runbooks/executions", api.ExecutionViewSet, basename="runbook-execution")
router.register("runbooks", api.RunbookViewSet, basename="runbook")

urlpatterns = [
    path("runbooks/settings/", api.runbook_settings, name="runbook-settings"),
    *router.urls,
    # A ticket's runbooks live under the ticket's URL, registered here: tickets knows nothing of runbooks.
    path("tickets/<int:ticket_pk>/runbooks/", api.ticket_runbooks, name="ticket-runbooks"),
    path(
        "tickets/<int:ticket_pk>/runbooks/<int:runbook_pk>/execute/",
        api.ticket_runbook_execute,
        name="ticket-runbook-execute",
    ),
]
