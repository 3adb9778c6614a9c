from django.apps import AppConfig
from django.utils.translation import gettext_lazy, gettext_noop


class CmdbConfig(AppConfig):
    name = "cmdb"
    verbose_name = "Configuration items"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cmdb import receivers
        from itsm import navigation
        from tickets import extensions

        receivers.connect()
        # The menu translates its labels when rendered (base.html); the ticket page does not.
        navigation.register(
            navigation.NavItem(
                label=gettext_noop("Configuration"),
                url_name="cmdb:item-list",
                order=45,
                roles=frozenset({"admin", "agent", "viewer"}),
            )
        )
        extensions.register_detail_panel(
            extensions.DetailPanel(
                name="cmdb", label=gettext_lazy("Configuration items"), url_name="cmdb:ticket-panel", order=40
            )
        )
