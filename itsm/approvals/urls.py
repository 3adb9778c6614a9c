from django.urls import path

from itsm.approvals import views

app_name = "approvals"

urlpatterns = [
    path("", views.approval_list, name="approval-list"),
    path("<int:pk>/", views.approval_detail, name="approval-detail"),
    path("<int:pk>/approve/", views.approval_approve, name="approval-approve"),
    path("<int:pk>/reject/", views.approval_reject, name="approval-reject"),
    path("<int:pk>/cancel/", views.approval_cancel, name="approval-cancel"),
    path("link/<str:token>/", views.approval_link, name="approval-link"),
]
