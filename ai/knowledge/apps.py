from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop


class KnowledgeConfig(AppConfig):
    name = "ai.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from ai.knowledge import kpis, receivers
        from ai.knowledge.models import KnowledgeArticle
        from itsm import navigation
        from tickets import extensions, signals

        kpis.register()
        # Keep the chunk index current: resolved tickets and article edits are re-embedded by the worker.
        signals.ticket_status_changed.connect(
            receivers.on_ticket_status_changed, dispatch_uid="kb-ticket-status"
        )
        signals.ticket_updated.connect(receivers.on_ticket_updated, dispatch_uid="kb-ticket-updated")
        post_save.connect(
            receivers.on_article_saved, sender=KnowledgeArticle, dispatch_uid="kb-article-saved"
        )
        post_delete.connect(
            receivers.on_article_deleted, sender=KnowledgeArticle, dispatch_uid="kb-article-deleted"
        )

        extensions.register_detail_panel(
            extensions.DetailPanel(
                name="ai-smart-reply", label=_("Smart reply"), url_name="ai:kb-ticket-draft", order=40
            )
        )
        extensions.register_detail_panel(
            extensions.DetailPanel(
                name="ai-similar-tickets",
                label=_("Similar tickets"),
                url_name="ai:kb-ticket-similar",
                order=50,
            )
        )
        extensions.register_detail_panel(
            extensions.DetailPanel(
                name="ai-suggested-articles",
                label=_("Suggested articles"),
                url_name="ai:kb-ticket-articles",
                order=60,
                agents_only=False,
            )
        )
        navigation.register(
            navigation.NavItem(label=gettext_noop("Knowledge base"), url_name="ai:kb-article-list", order=60)
        )
