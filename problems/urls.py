from django.urls import path

from problems import views

app_name = "problems"

urlpatterns = [
    path("", views.problem_list, name="problem-list"),
    path("new/", views.problem_create, name="problem-create"),
    path("<int:pk>/", views.problem_detail, name="problem-detail"),
    path("<int:pk>/link/", views.problem_link, name="problem-link"),
    path("ticket/<int:ticket_pk>/panel/", views.ticket_problem_panel, name="ticket-panel"),
]
