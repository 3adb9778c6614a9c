from django.urls import path

from changes import views

app_name = "changes"

urlpatterns = [
    path("", views.change_list, name="change-list"),
    path("new/", views.change_create, name="change-create"),
    path("calendar/", views.change_calendar, name="change-calendar"),
    path("<int:pk>/", views.change_detail, name="change-detail"),
    path("<int:pk>/transition/", views.change_transition, name="change-transition"),
    path("<int:pk>/accept-conflicts/", views.change_accept_conflicts, name="change-accept-conflicts"),
]
