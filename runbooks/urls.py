from django.urls import path

from runbooks import views

app_name = "runbooks"

urlpatterns = [
    path("settings/", views.settings_page, name="settings"),
    path("tickets/<int:ticket_pk>/panel/", views.ticket_panel, name="ticket-panel"),
    path("tickets/<int:ticket_pk>/run/<int:runbook_pk>/", views.ticket_run, name="ticket-run"),
    path("executions/<int:pk>/", views.execution_detail, name="execution-detail"),
    path("executions/<int:pk>/decide/", views.execution_decide, name="execution-decide"),
    path("executions/<int:pk>/cancel/", views.execution_cancel, name="execution-cancel"),
    path("executions/<int:pk>/confirm/", views.execution_confirm, name="execution-confirm"),
    path("items/<int:pk>/executions/", views.item_executions, name="item-executions"),
]
