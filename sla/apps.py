from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from itsm.analytics.metrics import register_collector
        from sla import kpis, prometheus, queue, receivers

        receivers.connect()
        queue.register()
        kpis.register()
        register_collector("sla", prometheus.collect)
