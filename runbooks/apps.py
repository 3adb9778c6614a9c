from django.apps import AppConfig
from django.utils.translation import gettext_lazy, gettext_noop


class RunbooksConfig(AppConfig):
    name = "runbooks"
    verbose_name = "Runbooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.urls import reverse

        from cmdb import extensions as cmdb_extensions
        from itsm import navigation
        from itsm.approvals import registry
        from runbooks import checks, kpis, receivers  # noqa: F401 - checks registers itself
        from tickets import extensions

        receivers.connect()
        kpis.register()
        registry.register_target(
            "runbooks.RunbookExecution",
            label=lambda execution: execution.label or f"Runbook execution #{execution.pk}",
            url=lambda execution, user: reverse("runbooks:execution-detail", args=[execution.pk]),
        )
        extensions.register_detail_panel(
            extensions.DetailPanel(
                name="runbooks", label=gettext_lazy("Runbooks"), url_name="runbooks:ticket-panel", order=45
            )
        )
        cmdb_extensions.register_item_panel(
            cmdb_extensions.ItemPanel(
                name="runbook-executions",
                label=gettext_lazy("Recent runbook executions"),
                url_name="runbooks:item-executions",
                order=50,
            )
        )
        navigation.register(
            navigation.NavItem(
                label=gettext_noop("Runbooks"),
                url_name="runbooks:settings",
                order=46,
                roles=frozenset({"admin"}),
            )
        )
