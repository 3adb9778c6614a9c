from django.urls import path

from cmdb import views

app_name = "cmdb"

urlpatterns = [
    path("", views.item_list, name="item-list"),
    path("items/<int:pk>/", views.item_detail, name="item-detail"),
    path("tickets/<int:ticket_pk>/panel/", views.ticket_panel, name="ticket-panel"),
    path("tickets/<int:ticket_pk>/link/", views.ticket_link, name="ticket-link"),
    path("tickets/<int:ticket_pk>/unlink/<int:link_pk>/", views.ticket_unlink, name="ticket-unlink"),
    path("suggestions/<int:pk>/accept/", views.suggestion_accept, name="suggestion-accept"),
    path("suggestions/<int:pk>/dismiss/", views.suggestion_dismiss, name="suggestion-dismiss"),
]
