from django.urls import path

from tickets import views

app_name = "tickets"

urlpatterns = [
    # Agent pages
    path("", views.ticket_list, name="ticket-list"),
    path("bulk/", views.ticket_bulk, name="ticket-bulk"),
    path("views/", views.saved_view_create, name="saved-view-create"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="saved-view-delete"),
    path("new/", views.ticket_create, name="ticket-create"),
    path("time/", views.time_report, name="time-report"),
    path("picker/", views.ticket_picker, name="ticket-picker"),
    path("export/", views.queue_export, name="queue-export"),
    path("exports/<int:pk>/", views.export_download, name="export-download"),
    path("survey/<str:token>/", views.survey, name="survey"),
    path("<int:pk>/", views.ticket_detail, name="ticket-detail"),
    path("<int:pk>/timeline/", views.ticket_timeline, name="ticket-timeline"),
    path("<int:pk>/assign/", views.ticket_assign, name="ticket-assign"),
    path("<int:pk>/status/", views.ticket_status, name="ticket-status"),
    path("<int:pk>/priority/", views.ticket_priority, name="ticket-priority"),
    path("<int:pk>/comments/", views.ticket_comment, name="ticket-comment"),
    path("<int:pk>/comments/<int:comment_pk>/edit/", views.comment_edit, name="comment-edit"),
    path("<int:pk>/macro/", views.macro_preview, name="macro-preview"),
    path("<int:pk>/macro/apply/", views.macro_apply, name="macro-apply"),
    path("<int:pk>/merge/", views.ticket_merge, name="ticket-merge"),
    path("<int:pk>/time/", views.ticket_worklogs, name="ticket-worklogs"),
    path("<int:pk>/time/<int:worklog_pk>/delete/", views.worklog_delete, name="worklog-delete"),
    path("<int:pk>/relations/", views.relation_add, name="relation-add"),
    path("<int:pk>/relations/<int:relation_pk>/delete/", views.relation_remove, name="relation-remove"),
    path("<int:pk>/watch/", views.ticket_watch, name="ticket-watch"),
    path("<int:pk>/presence/", views.ticket_presence, name="ticket-presence"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment-download"),
    # Requester portal
    path("portal/", views.portal_home, name="portal-home"),
    path("portal/new/", views.portal_catalog, name="portal-catalog"),
    path("portal/report/", views.portal_report, name="portal-report"),
    path("portal/new/<slug:slug>/", views.portal_request, name="portal-request"),
    path("portal/<int:pk>/", views.portal_ticket, name="portal-ticket"),
    path("portal/<int:pk>/reply/", views.portal_reply, name="portal-reply"),
    path("portal/<int:pk>/reopen/", views.portal_reopen, name="portal-reopen"),
]
