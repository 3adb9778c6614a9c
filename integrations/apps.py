from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations import prometheus
        from itsm.analytics.metrics import register_collector

        register_collector("integrations", prometheus.collect)
