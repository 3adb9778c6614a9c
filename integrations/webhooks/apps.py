from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "integrations.webhooks"
    label = "webhooks"
    verbose_name = "Outbound webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_noop

        from integrations.webhooks import receivers
        from itsm.navigation import NavItem, register

        receivers.connect()

        register(
            NavItem(
                label=gettext_noop("Webhooks"),
                url_name="integrations:webhooks-delivery-list",
                order=900,
                roles=frozenset({"admin"}),
            )
        )
