"""The knowledge base: articles, the chunks retrieval searches, and deflection events."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pgvector.django import HnswIndex, VectorField

from ai.knowledge.markdown import render_markdown

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


# --- Jira issues as knowledge --------------------------------------------------------------------
class JiraAudience(models.TextChoices):
    INTERNAL = "internal", _("Internal (agents only)")
    ORGANISATION = "organisation", _("An organisation's requesters too")


class JiraKnowledgeProjectQuerySet(models.QuerySet):
    def enabled(self) -> JiraKnowledgeProjectQuerySet:
        return self.filter(enabled=True)

    def shared_with(self, organisation_id: int | None) -> JiraKnowledgeProjectQuerySet:
        """Enabled projects whose resolved issues this organisation's requesters may read."""
        if organisation_id is None:
            return self.none()
        return self.enabled().filter(audience=JiraAudience.ORGANISATION, organisation_id=organisation_id)

    def due_for_reconcile(self) -> JiraKnowledgeProjectQuerySet:
        """Enabled projects loaded once already: the periodic reconcile reads what changed since."""
        return self.enabled().exclude(synced_until=None)


class JiraKnowledgeProject(models.Model):
    """A Jira project whose issues feed the knowledge index (an admin setting), and its cursor.

    Audience: *internal* (agents only) or *organisation*: the requesters of that organisation
    may also find its resolved issues, reading only their public content (summary,
    description, public comments; JSM internal comments never). The cursor fields are the
    backfill's resumable position and the reconcile's high-water mark; the worker and the
    ``jira_kb_backfill`` command write them.
    """

    key = models.CharField(
        _("Jira project key"),
        max_length=32,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Z][A-Z0-9_]{0,31}$",
                _("A Jira project key: capital letters, digits and underscores, starting with a letter."),
            )
        ],
    )
    audience = models.CharField(
        _("audience"), max_length=12, choices=JiraAudience.choices, default=JiraAudience.INTERNAL
    )
    organisation = models.ForeignKey(
        "itsm.Organisation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jira_knowledge_projects",
        verbose_name=_("organisation"),
        help_text=_("With the organisation audience: whose requesters may read its resolved issues."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    # The backfill's position: the search it runs, the nextPageToken of the next page to read,
    # and the ``updated`` of the last issue done (to start again from there if the token expired).
    cursor_jql = models.TextField(blank=True)
    cursor_token = models.TextField(blank=True)
    cursor_updated = models.DateTimeField(null=True, blank=True)
    cursor_done = models.PositiveIntegerField(default=0)
    backfill_started_at = models.DateTimeField(_("backfill started"), null=True, blank=True)
    backfill_finished_at = models.DateTimeField(_("backfill finished"), null=True, blank=True)
    # Issues updated before this instant are in the index; the reconcile reads from here.
    synced_until = models.DateTimeField(_("synchronised until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = JiraKnowledgeProjectQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        verbose_name = _("Jira knowledge project")
        verbose_name_plural = _("Jira knowledge projects")
        constraints = [
            models.CheckConstraint(
                condition=Q(audience="internal", organisation=None) | Q(audience="organisation"),
                name="kb_jira_project_internal_has_no_organisation",
            )
        ]

    def __str__(self) -> str:
        return self.key

    @classmethod
    def from_db(cls, db: str | None, field_names: list[str], values: list[object]) -> JiraKnowledgeProject:
        instance = super().from_db(db, field_names, values)
        # What ``enabled`` was when loaded: a save that flips it re-indexes the project's issues.
        instance.enabled_when_loaded = instance.__dict__.get("enabled")
        return instance

    @property
    def enabled_changed(self) -> bool:
        return getattr(self, "enabled_when_loaded", None) != self.enabled

    @property
    def has_cursor(self) -> bool:
        return bool(self.cursor_jql)

    def clean(self) -> None:
        self.key = (self.key or "").strip().upper()
        if self.audience == JiraAudience.ORGANISATION and self.organisation_id is None:
            raise ValidationError(
                {"organisation": _("Choose the organisation whose requesters may read it.")}
            )
        if self.audience == JiraAudience.INTERNAL and self.organisation_id is not None:
            raise ValidationError(
                {"organisation": _("An internal project is for agents only: leave the organisation empty.")}
            )


class JiraIssueQuerySet(models.QuerySet):
    def live(self) -> JiraIssueQuerySet:
        """Not deleted in Jira."""
        return self.filter(deleted_at=None)

    def resolved(self) -> JiraIssueQuerySet:
        return self.filter(is_resolved=True)

    def in_knowledge(self) -> JiraIssueQuerySet:
        """Live issues of the enabled knowledge projects: what the index holds."""
        return self.live().filter(project_key__in=JiraKnowledgeProject.objects.enabled().values("key"))

    def searchable_by(self, user: object) -> JiraIssueQuerySet:
        """Agents: every issue of the knowledge projects. Anyone else: the resolved issues of
        projects shared with their organisation (of which only public passages are searched)."""
        if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
            return self.none()
        if getattr(user, "is_agent", False):
            return self.in_knowledge()
        shared = JiraKnowledgeProject.objects.shared_with(getattr(user, "organisation_id", None))
        return self.live().resolved().filter(project_key__in=shared.values("key"))


class JiraIssue(models.Model):
    """A Jira issue of a knowledge project as last read (backfill, reconcile or a webhook).

    The primary key is the Jira issue id, which is also the chunks' source id (source type
    ``jira_issue``). ``jira_updated_at`` is the issue's ``updated`` held: an older delivery
    changes nothing. An issue deleted in Jira keeps a tombstone row (``deleted_at``, no text, no
    chunks) so that a late delivery cannot bring it back.
    """

    id = models.BigIntegerField(_("Jira issue id"), primary_key=True)
    key = models.CharField(_("key"), max_length=64)
    project_key = models.CharField(_("project"), max_length=32)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=100, blank=True)
    status_category = models.CharField(max_length=20, blank=True)
    resolution = models.CharField(_("resolution"), max_length=100, blank=True)
    is_resolved = models.BooleanField(_("resolved"), default=False)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    issue_type = models.CharField(_("issue type"), max_length=100, blank=True)
    priority = models.CharField(_("priority"), max_length=100, blank=True)
    labels = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    components = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    jira_created_at = models.DateTimeField(null=True, blank=True)
    jira_updated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted in Jira"), null=True, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)

    objects = JiraIssueQuerySet.as_manager()

    class Meta:
        ordering = ["project_key", "-jira_updated_at"]
        verbose_name = _("Jira issue (knowledge)")
        verbose_name_plural = _("Jira issues (knowledge)")
        indexes = [
            models.Index(fields=["project_key", "is_resolved"], name="kb_jira_issue_project_idx"),
            models.Index(fields=["key"], name="kb_jira_issue_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.summary}"

    @property
    def url(self) -> str | None:
        return jira_browse_url(self.key)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def public_resolution(self) -> str:
        """What a requester may be told of how it was solved: the last public comment of a
        resolved issue (the answer JSM sends the customer), empty when there is none."""
        if not self.is_resolved:
            return ""
        comments = [comment for comment in self.comments.all() if comment.is_public and comment.body.strip()]
        comments.sort(key=lambda comment: (comment.jira_created_at or self.fetched_at, comment.pk))
        return comments[-1].body.strip() if comments else ""


def jira_browse_url(key: str) -> str | None:
    """``JIRA_BASE_URL/browse/KEY``; None when Jira's address is not configured."""
    base = settings.JIRA_BASE_URL.rstrip("/")
    return f"{base}/browse/{key}" if base and key else None


class JiraIssueCommentQuerySet(models.QuerySet):
    def live(self) -> JiraIssueCommentQuerySet:
        return self.filter(deleted_at=None)


class JiraIssueComment(models.Model):
    """A comment of a knowledge Jira issue; ``internal`` ones (JSM internal comments) reach agents only."""

    id = models.BigIntegerField(_("Jira comment id"), primary_key=True)
    issue = models.ForeignKey(JiraIssue, on_delete=models.CASCADE, related_name="comments")
    author = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    internal = models.BooleanField(_("internal"), default=False)
    jira_created_at = models.DateTimeField(null=True, blank=True)
    jira_updated_at = models.DateTimeField(null=True, blank=True)
    # Deleted in Jira: the text is dropped, the row stays so a late update cannot bring it back.
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = JiraIssueCommentQuerySet.as_manager()

    class Meta:
        ordering = ["issue", "jira_created_at", "id"]
        verbose_name = _("Jira comment (knowledge)")

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.issue_id}"

    @property
    def is_public(self) -> bool:
        return not self.internal and self.deleted_at is None


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


class PublishedKnownError(models.Model):
    """A known error (problems.Problem) published as a knowledge article: one article per
    problem, so publishing twice shows the same article."""

    problem = models.OneToOneField(
        "problems.Problem", on_delete=models.CASCADE, related_name="published_article"
    )
    article = models.OneToOneField(KnowledgeArticle, on_delete=models.CASCADE, related_name="known_error")
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.problem_id} → article {self.article_id}"


class DraftEventKind(models.TextChoices):
    DRAFTED = "drafted", _("Draft made")
    SENT = "sent", _("Draft sent as a reply")


class ReplyDraftEvent(models.Model):
    """An agent asked for a smart-reply draft on a ticket, or sent one (edited or not) as the
    public reply: the smart-reply KPIs count these (``ai/knowledge/kpis.py``)."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=DraftEventKind.choices)
    grounded = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at", "kind"], name="kb_draftevent_created_idx")]

    def __str__(self) -> str:
        return f"{self.kind} on ticket {self.ticket_id}"
