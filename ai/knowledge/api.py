"""Knowledge API under /api/ai/: hybrid search, articles, votes, smart reply drafts."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ai.knowledge import actions
from ai.knowledge.models import DraftEventKind, KnowledgeArticle
from ai.knowledge.replies import draft_reply
from ai.knowledge.search import SearchInputError, hybrid_search
from ai.knowledge.serializers import (
    ArticleSerializer,
    DraftSerializer,
    SearchInputSerializer,
    SearchOutputSerializer,
    VoteInputSerializer,
)
from itsm.permissions import IsAgent
from itsm.security.scopes import read_scope
from tickets.models import Ticket


class AgentsWrite(permissions.BasePermission):
    """Everyone signed in reads what they may see; agents write."""

    message = "Only agents write knowledge articles."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS or getattr(view, "action", None) == "vote":
            return True
        return bool(request.user.is_authenticated and request.user.is_agent)


@read_scope  # a search changes nothing: read-only tokens may call it
@extend_schema(
    request=SearchInputSerializer,
    responses=SearchOutputSerializer,
    summary="Hybrid search (full text + vectors, fused by reciprocal rank) over what the caller may see",
)
@api_view(["POST"])
def search(request: Request) -> Response:
    serializer = SearchInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        result = hybrid_search(request.user, data["query"], k=data["k"], sources=data.get("sources"))
    except SearchInputError as error:
        raise ValidationError({"detail": str(error)}) from error
    results = [{**hit.__dict__, "url": hit.url} for hit in result.hits]
    for row in results:
        row.pop("text", None)
    return Response(SearchOutputSerializer({"mode": result.mode, "results": results}).data)


class ArticleViewSet(viewsets.ModelViewSet):
    """Knowledge articles: agents see and write all; requesters and viewers read published public ones."""

    serializer_class = ArticleSerializer
    permission_classes = [permissions.IsAuthenticated, AgentsWrite]
    filterset_fields = ["status", "audience", "category"]

    def get_queryset(self) -> QuerySet[KnowledgeArticle]:
        return (
            KnowledgeArticle.objects.visible_to(self.request.user)
            .select_related("author")
            .order_by("-updated_at", "-id")
        )

    def perform_create(self, serializer: ArticleSerializer) -> None:
        serializer.instance = actions.do_create_article(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: ArticleSerializer) -> None:
        actions.do_update_article(
            serializer.instance, actor=self.request.user, fields=dict(serializer.validated_data)
        )
        serializer.instance.refresh_from_db()

    def perform_destroy(self, instance: KnowledgeArticle) -> None:
        actions.do_delete_article(instance, actor=self.request.user)

    @extend_schema(
        request=VoteInputSerializer, responses=ArticleSerializer, summary="Vote helpful / not helpful"
    )
    @action(detail=True, methods=["post"])
    def vote(self, request: Request, pk: str | None = None) -> Response:
        article = self.get_object()
        serializer = VoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changed = actions.do_vote_article(
            article, actor=request.user, helpful=serializer.validated_data["helpful"]
        )
        article.refresh_from_db()
        return Response({**ArticleSerializer(article).data, "changed": changed}, status=status.HTTP_200_OK)


@extend_schema(
    request=None,
    responses=DraftSerializer,
    summary="Draft a reply to a ticket from matching articles and resolved tickets (sends nothing)",
)
@api_view(["POST"])
@permission_classes([IsAgent])
def draft_reply_for_ticket(request: Request, pk: int) -> Response:
    ticket = get_object_or_404(Ticket.objects.visible_to(request.user).select_related("requester"), pk=pk)
    draft = draft_reply(ticket, actor=request.user)
    actions.do_record_reply_draft(
        ticket, actor=request.user, kind=DraftEventKind.DRAFTED, grounded=draft.grounded
    )
    citations = [citation.__dict__ for citation in draft.citations]
    return Response(DraftSerializer({**draft.__dict__, "citations": citations}).data)
