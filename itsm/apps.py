from django.apps import AppConfig


class ItsmConfig(AppConfig):
    name = "itsm"
    verbose_name = "Platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_noop

        from itsm import schema  # noqa: F401 - registers the OpenAPI auth extension
        from itsm.navigation import NavItem, register

        register(
            NavItem(
                label=gettext_noop("Dashboard"),
                url_name="dashboard",
                order=5,
                roles=frozenset({"agent", "admin", "viewer"}),
            )
        )
