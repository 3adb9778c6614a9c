"""Knowledge pages, mounted under /ai/ in the ``ai`` namespace (names start with ``kb-``)."""

from django.urls import path

from ai.knowledge import views

urlpatterns = [
    path("kb/", views.article_list, name="kb-article-list"),
    path("kb/new/", views.article_create, name="kb-article-create"),
    path("kb/search/", views.search, name="kb-search"),
    path("kb/suggest/", views.suggest, name="kb-suggest"),
    path("kb/deflection/", views.deflection, name="kb-deflection"),
    path("kb/<int:pk>/", views.article_detail, name="kb-article-detail"),
    path("kb/<int:pk>/edit/", views.article_edit, name="kb-article-edit"),
    path("kb/<int:pk>/vote/", views.article_vote, name="kb-article-vote"),
    path(
        "kb/known-errors/<int:problem_pk>/publish/", views.publish_known_error, name="kb-publish-known-error"
    ),
    path("kb/tickets/<int:pk>/similar/", views.ticket_similar, name="kb-ticket-similar"),
    path("kb/tickets/<int:pk>/articles/", views.ticket_articles, name="kb-ticket-articles"),
    path("kb/tickets/<int:pk>/reply/", views.ticket_draft, name="kb-ticket-draft"),
    path("kb/tickets/<int:pk>/reply/send/", views.ticket_send_reply, name="kb-ticket-send-reply"),
]
