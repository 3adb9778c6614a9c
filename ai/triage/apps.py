from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop


class TriageConfig(AppConfig):
    name = "ai.triage"
    label = "triage"
    verbose_name = "Triage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ai.triage import kpis, receivers
        from itsm import navigation
        from tickets import extensions

        receivers.connect()
        kpis.register()
        from ai.triage import prometheus
        from itsm.analytics.metrics import register_collector

        register_collector("triage", prometheus.collect)
        extensions.register_detail_panel(
            extensions.DetailPanel(
                name="ai-triage", label=_("AI triage"), url_name="ai:triage-panel", order=30
            )
        )
        navigation.register(
            navigation.NavItem(
                label=gettext_noop("AI triage"),
                url_name="ai:triage-metrics",
                order=90,
                roles=frozenset({"admin"}),
            )
        )
