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
