from django.urls import path
from rest_framework.routers import SimpleRouter

from cmdb import api

router = SimpleRouter()
router.register("cmdb/items", api.ItemViewSet, basename="cmdb-item")

urlpatterns = [
    *router.urls,
    # A ticket's items live under the ticket's URL, registered here: tickets knows nothing of cmdb.
    path("tickets/<int:ticket_pk>/items/", api.ticket_items, name="ticket-items"),
    path(
        "tickets/<int:ticket_pk>/items/suggestions/",
        api.ticket_item_suggestions,
        name="ticket-item-suggestions",
    ),
    path("tickets/<int:ticket_pk>/items/<int:item_pk>/", api.ticket_item_unlink, name="ticket-item-unlink"),
    path("cmdb/suggestions/<int:pk>/accept/", api.suggestion_accept, name="cmdb-suggestion-accept"),
    path("cmdb/suggestions/<int:pk>/dismiss/", api.suggestion_dismiss, name="cmdb-suggestion-dismiss"),
]
