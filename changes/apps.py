from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "changes"
    verbose_name = "Changes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.urls import reverse
        from django.utils.translation import gettext_noop

        from changes import kpis, receivers
        from itsm import navigation
        from itsm.approvals import registry

        receivers.connect()
        kpis.register()
        registry.register_target(
            "changes.ChangeRequest",
            label=lambda change: f"{change.number} {change.title}",
            url=lambda change, user: reverse("changes:change-detail", args=[change.pk]),
        )
        navigation.register(
            navigation.NavItem(
                gettext_noop("Changes"),
                "changes:change-list",
                order=45,
                roles=frozenset({"admin", "agent", "viewer"}),
            )
        )
