from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ai.knowledge import actions
from ai.knowledge.models import ArticleStatus, Chunk, DeflectionEvent, KnowledgeArticle


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

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
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
    def publish(self, request, queryset):  # type: ignore[no-untyped-def]
        for article in queryset:
            actions.do_update_article(article, actor=request.user, fields={"status": ArticleStatus.PUBLISHED})

    @admin.action(description=_("Unpublish selected articles"))
    def unpublish(self, request, queryset):  # type: ignore[no-untyped-def]
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

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # written by the worker and ai_backfill only


@admin.register(DeflectionEvent)
class DeflectionEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "query", "article_ids"]
    readonly_fields = ["created_at", "user", "query", "article_ids", "token_digest"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
