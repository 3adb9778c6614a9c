from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "ai"
    verbose_name = "AI"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ai import providers
        from itsm.health import register_contributor

        # /healthz names the embeddings and generation providers in use.
        register_contributor("ai", providers.describe)

        # Recurrence detection compares incidents' embeddings too (problems knows no model).
        from ai.knowledge.indexing import embedding_model_label
        from ai.providers.embeddings import embed_texts
        from problems import similarity

        similarity.register_embedder(embed_texts, model=embedding_model_label)

        # A problem's suggestions get the LLM's cited analysis when an LLM is configured.
        from ai.copilot.problem_analysis import write_problem_analysis
        from problems import suggestions

        suggestions.register_writer(write_problem_analysis)
