from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from ai.knowledge import actions
from ai.knowledge.forms import JiraKnowledgeProjectForm
from ai.knowledge.models import (
    ArticleStatus,
    Chunk,
    DeflectionEvent,
    JiraIssue,
    JiraKnowledgeProject,
    KnowledgeArticle,
)
from ai.knowledge.tasks import backfill_jira_project
from itsm.lib.tasks import defer_once


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "status",
        "audience",
        "category",
        "helpful_votes",
        "not_helpful_votes",
        "updated_at",
    ]
    list_filter = ["status", "audience", "category"]
    search_fields = ["title", "body"]
    readonly_fields = [
        "helpful_votes",
        "not_helpful_votes",
        "author",
        "updated_by",
        "created_at",
        "updated_at",
        "published_at",
    ]
    autocomplete_fields: list[str] = []
    actions = ["publish", "unpublish"]

    def save_model(self, request, obj, form, change):
        # Through the same actions as the pages and the API (author, audit context, publish date).
        if change:
            fields = {
                name: form.cleaned_data[name] for name in form.changed_data if name in actions.EDITABLE_FIELDS
            }
            actions.do_update_article(obj, actor=request.user, fields=fields)
            obj.refresh_from_db()
        else:
            article = actions.do_create_article(
                actor=request.user, **{name: form.cleaned_data.get(name) for name in actions.EDITABLE_FIELDS}
            )
            obj.pk = article.pk
            obj.refresh_from_db()

    @admin.action(description=_("Publish selected articles"))
    def publish(self, request, queryset):
        for article in queryset:
            actions.do_update_article(article, actor=request.user, fields={"status": ArticleStatus.PUBLISHED})

    @admin.action(description=_("Unpublish selected articles"))
    def unpublish(self, request, queryset):
        for article in queryset:
            actions.do_update_article(article, actor=request.user, fields={"status": ArticleStatus.DRAFT})


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["source_type", "source_id", "position", "title", "embedding_model", "updated_at"]
    list_filter = ["source_type", "embedding_model"]
    search_fields = ["title", "text"]
    exclude = ["embedding"]
    readonly_fields = [
        "source_type",
        "source_id",
        "position",
        "title",
        "text",
        "is_public",
        "embedding_model",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False  # written by the worker and ai_backfill only


@admin.register(DeflectionEvent)
class DeflectionEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "query", "article_ids"]
    readonly_fields = ["created_at", "user", "query", "article_ids", "token_digest"]

    def has_add_permission(self, request):
        return False


@admin.register(JiraKnowledgeProject)
class JiraKnowledgeProjectAdmin(admin.ModelAdmin):
    """Which Jira projects feed the knowledge index, and who may read them; their sync state."""

    form = JiraKnowledgeProjectForm

    list_display = [
        "key",
        "audience",
        "organisation",
        "enabled",
        "issues",
        "backfill_finished_at",
        "synced_until",
        "last_error",
    ]
    list_filter = ["enabled", "audience"]
    search_fields = ["key"]
    fields = [
        "key",
        "audience",
        "organisation",
        "enabled",
        "backfill_started_at",
        "backfill_finished_at",
        "cursor_done",
        "synced_until",
        "last_error",
    ]
    readonly_fields = [
        "backfill_started_at",
        "backfill_finished_at",
        "cursor_done",
        "synced_until",
        "last_error",
    ]
    actions = ["load_from_jira"]

    def get_queryset(self, request):
        counts = (
            JiraIssue.objects.live()
            .filter(project_key=OuterRef("key"))
            .values("project_key")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return super().get_queryset(request).annotate(issue_count=Coalesce(Subquery(counts), 0))

    @admin.display(description=_("issues"), ordering="issue_count")
    def issues(self, obj: JiraKnowledgeProject) -> int:
        return obj.issue_count

    @admin.action(description=_("Load from Jira now (backfill in the worker, resuming an interrupted one)"))
    def load_from_jira(self, request, queryset):
        queued = [
            project.key
            for project in queryset.filter(enabled=True)
            if defer_once(
                backfill_jira_project, lock=f"kb-jira-backfill:{project.key}", project_key=project.key
            )
        ]
        self.message_user(
            request,
            _("Queued: %(keys)s.") % {"keys": ", ".join(queued)} if queued else _("Nothing queued."),
        )


@admin.register(JiraIssue)
class JiraIssueAdmin(admin.ModelAdmin):
    list_display = ["key", "summary", "status", "resolution", "project_key", "jira_updated_at", "deleted_at"]
    list_filter = ["project_key", "is_resolved"]
    search_fields = ["key", "summary"]
    readonly_fields = [field.name for field in JiraIssue._meta.fields]

    def has_add_permission(self, request):
        return False  # read from Jira by the backfill, the reconcile and webhooks

    def has_change_permission(self, request, obj=None):
        return False
