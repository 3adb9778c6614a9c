from rest_framework.routers import SimpleRouter

from tickets.api import ExportViewSet, TicketViewSet
from tickets.api_catalog import CatalogViewSet
from tickets.api_macros import MacroViewSet

router = SimpleRouter()
router.register("tickets", TicketViewSet, basename="ticket")
router.register("exports", ExportViewSet, basename="export")
router.register("macros", MacroViewSet, basename="macro")
router.register("catalog", CatalogViewSet, basename="catalog")

urlpatterns = router.urls
