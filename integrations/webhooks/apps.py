from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "integrations.webhooks"
    label = "webhooks"
    verbose_name = "Outbound webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.webhooks import events, receivers

        events.connect_domain_signals()
        events.event_raised.connect(receivers.queue_webhooks, dispatch_uid="webhooks.queue")

        from django.utils.translation import gettext_noop

        from itsm.navigation import NavItem, register

        register(
            NavItem(
                label=gettext_noop("Webhooks"),
                url_name="integrations:webhooks-delivery-list",
                order=900,
                roles=frozenset({"admin"}),
            )
        )
