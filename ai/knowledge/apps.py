from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop


class KnowledgeConfig(AppConfig):
    name = "ai.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ai.knowledge import kpis, receivers, runbook_evidence
        from itsm import navigation
        from tickets import extensions

        receivers.connect()
        kpis.register()
        # Runbook matching weighs how like the tickets a runbook resolved this one reads.
        runbook_evidence.register()

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
        from problems import extensions as problem_extensions

        problem_extensions.register_detail_action(
            problem_extensions.DetailAction(
                name="publish-known-error",
                label=gettext_noop("Publish as a knowledge article"),
                url_name="ai:kb-publish-known-error",
                shown=lambda problem, user: (
                    problem.is_known_error and user.is_agent and not hasattr(problem, "published_article")
                ),
            )
        )
        navigation.register(
            navigation.NavItem(label=gettext_noop("Knowledge base"), url_name="ai:kb-article-list", order=60)
        )
