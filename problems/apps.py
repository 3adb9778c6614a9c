from django.apps import AppConfig


class ProblemsConfig(AppConfig):
    name = "problems"
    verbose_name = "Problems"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_noop

        from itsm import navigation
        from problems import kpis, receivers
        from tickets import extensions

        kpis.register()
        receivers.connect()

        navigation.register(
            navigation.NavItem(
                gettext_noop("Problems"),
                "problems:problem-list",
                order=40,
                roles=frozenset({"admin", "agent", "viewer"}),
            )
        )
        extensions.register_detail_panel(
            extensions.DetailPanel(
                name="problem", label=gettext_noop("Problem"), url_name="problems:ticket-panel", order=60
            )
        )
