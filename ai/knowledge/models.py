"""The knowledge base: articles, the chunks retrieval searches, and deflection events."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pgvector.django import HnswIndex, VectorField

if TYPE_CHECKING:
    from itsm.models import User

EMBEDDING_DIMENSIONS = 384


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")


class Audience(models.TextChoices):
    INTERNAL = "internal", _("Internal (agents)")
    PUBLIC = "public", _("Public (requesters)")


class KnowledgeArticleQuerySet(models.QuerySet):
    def published(self) -> KnowledgeArticleQuerySet:
        return self.filter(status=ArticleStatus.PUBLISHED)

    def public(self) -> KnowledgeArticleQuerySet:
        return self.filter(audience=Audience.PUBLIC)

    def visible_to(self, user: User) -> KnowledgeArticleQuerySet:
        """Agents see every article, drafts included; everyone else published public ones."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_agent:
            return self
        return self.published().public()

    def searchable_by(self, user: User) -> KnowledgeArticleQuerySet:
        """What search may return to a user: published, and internal ones only for agents."""
        return self.visible_to(user).published()

    def with_status(self, status: str) -> KnowledgeArticleQuerySet:
        return self.filter(status=status)

    def for_audience(self, audience: str) -> KnowledgeArticleQuerySet:
        return self.filter(audience=audience)

    def titled_like(self, text: str) -> KnowledgeArticleQuerySet:
        return self.filter(title__icontains=text.strip()) if text.strip() else self


@pghistory.track(
    pghistory.InsertEvent("created"),
    pghistory.UpdateEvent("changed"),
    fields=["title", "body", "status", "audience", "category"],
    model_name="KnowledgeArticleEvent",
    obj_field=pghistory.ObjForeignKey(related_name="events", db_index=True),
    context_field=pghistory.ContextJSONField(),
)
class KnowledgeArticle(models.Model):
    title = models.CharField(_("title"), max_length=255)
    body = models.TextField(_("body"), help_text=_("Markdown: headings, lists, links, code."))
    status = models.CharField(
        _("status"), max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    audience = models.CharField(
        _("audience"), max_length=10, choices=Audience.choices, default=Audience.INTERNAL
    )
    category = models.ForeignKey(
        "tickets.Category",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="knowledge_articles",
        verbose_name=_("category"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Counted from ArticleVote rows (one per person) whenever a vote changes.
    helpful_votes = models.PositiveIntegerField(default=0)
    not_helpful_votes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    objects = KnowledgeArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("knowledge article")
        verbose_name_plural = _("knowledge articles")
        indexes = [
            models.Index(fields=["status", "audience", "-updated_at"], name="kb_article_status_idx"),
            models.Index(fields=["category"], name="kb_article_category_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("ai:kb-article-detail", args=[self.pk])

    @property
    def is_published(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED

    @property
    def is_public(self) -> bool:
        return self.audience == Audience.PUBLIC

    def is_visible_to(self, user: User) -> bool:
        if not user.is_authenticated or not user.is_active:
            return False
        return user.is_agent or (self.is_published and self.is_public)

    def rendered_body(self) -> str:
        from ai.knowledge.markdown import render_markdown

        return render_markdown(self.body)

    def record_vote(self, user: User, *, helpful: bool) -> bool:
        """One vote per person (a second vote replaces the first); returns whether anything changed."""
        with transaction.atomic():
            # Lock the article so concurrent votes recount one after another.
            KnowledgeArticle.objects.select_for_update().filter(pk=self.pk).first()
            vote, created = ArticleVote.objects.get_or_create(
                article=self, user=user, defaults={"helpful": helpful}
            )
            if not created and vote.helpful == helpful:
                return False
            if not created:
                vote.helpful = helpful
                vote.updated_at = timezone.now()
                vote.save(update_fields=["helpful", "updated_at"])
            counts = ArticleVote.objects.filter(article=self).aggregate(
                yes=models.Count("pk", filter=Q(helpful=True)),
                no=models.Count("pk", filter=Q(helpful=False)),
            )
            self.helpful_votes, self.not_helpful_votes = counts["yes"], counts["no"]
            # update() and not save(): votes are not edits and must not re-index the article.
            KnowledgeArticle.objects.filter(pk=self.pk).update(
                helpful_votes=self.helpful_votes, not_helpful_votes=self.not_helpful_votes
            )
        return True


class ArticleVote(models.Model):
    article = models.ForeignKey(KnowledgeArticle, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    helpful = models.BooleanField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["article", "user"], name="kb_vote_one_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id} {'+' if self.helpful else '-'} {self.article_id}"


class SourceType(models.TextChoices):
    ARTICLE = "article", _("Knowledge article")
    TICKET = "ticket", _("Resolved ticket")
    JIRA_ISSUE = "jira_issue", _("Jira issue")


class ChunkQuerySet(models.QuerySet):
    def of_source(self, source_type: str, source_id: int) -> ChunkQuerySet:
        return self.filter(source_type=source_type, source_id=source_id)


class Chunk(models.Model):
    """A passage of an article, a resolved ticket or a Jira issue, with its embedding.

    Identified by (source type, source id, position); the worker rewrites a source's chunks
    when the source changes. ``is_public`` copies the article audience so requester searches
    can narrow the index scan; access is still checked against the source on every search.
    """

    source_type = models.CharField(max_length=12, choices=SourceType.choices)
    source_id = models.BigIntegerField()
    position = models.PositiveIntegerField()
    title = models.CharField(max_length=255)
    text = models.TextField()
    is_public = models.BooleanField(default=False)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    # Which provider/model made the embedding: a changed model makes the chunk stale.
    embedding_model = models.CharField(max_length=120)
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ChunkQuerySet.as_manager()

    class Meta:
        ordering = ["source_type", "source_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["source_type", "source_id", "position"], name="kb_chunk_identity")
        ]
        indexes = [
            HnswIndex(
                name="kb_chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="kb_chunk_search_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_type}:{self.source_id}#{self.position}"


class DeflectionEventQuerySet(models.QuerySet):
    def since(self, when: object) -> DeflectionEventQuerySet:
        return self.filter(created_at__gte=when)

    def mentioning(self, article: KnowledgeArticle) -> DeflectionEventQuerySet:
        return self.filter(article_ids__contains=[article.pk])


class DeflectionEvent(models.Model):
    """A requester saw suggested articles on the new-ticket form and left without submitting."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # SHA-256 of the signed suggestion token: one event per suggestion, however many beacons arrive.
    token_digest = models.CharField(max_length=64, unique=True)
    query = models.CharField(max_length=500, blank=True)
    article_ids = ArrayField(models.BigIntegerField(), default=list)
    created_at = models.DateTimeField(default=timezone.now)

    objects = DeflectionEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at"], name="kb_deflection_created_idx"),
            GinIndex(fields=["article_ids"], name="kb_deflection_articles_idx"),
        ]

    def __str__(self) -> str:
        return f"deflection {self.created_at:%Y-%m-%d %H:%M} by {self.user_id}"

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
