from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from itsm.analytics.metrics import register_collector
        from sla import home, kpis, prometheus, queue, receivers

        receivers.connect()
        queue.register()
        kpis.register()
        home.register()
        register_collector("sla", prometheus.collect)
