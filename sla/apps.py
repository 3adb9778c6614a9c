from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sla import kpis, queue, receivers

        receivers.connect()
        queue.register()
        kpis.register()
