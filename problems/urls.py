from django.urls import path

from problems import views

app_name = "problems"

urlpatterns = [
    path("", views.problem_list, name="problem-list"),
    path("new/", views.problem_create, name="problem-create"),
    path("<int:pk>/", views.problem_detail, name="problem-detail"),
    path("<int:pk>/link/", views.problem_link, name="problem-link"),
    path("<int:pk>/unlink/", views.problem_unlink, name="problem-unlink"),
    path("<int:pk>/notes/", views.problem_note, name="problem-note"),
    path("<int:pk>/merge/", views.problem_merge, name="problem-merge"),
    path("candidates/", views.candidate_list, name="candidate-list"),
    path("candidates/<int:pk>/promote/", views.candidate_promote, name="candidate-promote"),
    path("candidates/<int:pk>/dismiss/", views.candidate_dismiss, name="candidate-dismiss"),
    path("ticket/<int:ticket_pk>/panel/", views.ticket_problem_panel, name="ticket-panel"),
]
