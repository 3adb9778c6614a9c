from django.urls import path

from sla import views

app_name = "sla"

urlpatterns = [
    path("ticket/<int:pk>/panel/", views.ticket_panel, name="ticket-panel"),
]
