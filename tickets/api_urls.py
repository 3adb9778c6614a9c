from rest_framework.routers import SimpleRouter

from tickets.api import ExportViewSet, TicketViewSet

router = SimpleRouter()
router.register("tickets", TicketViewSet, basename="ticket")
router.register("exports", ExportViewSet, basename="export")

urlpatterns = router.urls
