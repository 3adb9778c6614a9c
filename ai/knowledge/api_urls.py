"""Mounted at /api/ai/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from ai.knowledge import api

router = SimpleRouter()
router.register("articles", api.ArticleViewSet, basename="kb-article")

urlpatterns = [
    path("search/", api.search, name="ai-search"),
    path("tickets/<int:pk>/draft-reply/", api.draft_reply_for_ticket, name="ai-draft-reply"),
    *router.urls,
]
