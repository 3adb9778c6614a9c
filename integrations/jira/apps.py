from django.apps import AppConfig


class JiraConfig(AppConfig):
    name = "integrations.jira"
    label = "jira"
    verbose_name = "Jira Service Management"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.jira import receivers

        receivers.connect()
        self.register_sla_provider()

    def register_sla_provider(self) -> None:
        """Offer the JSM SLA to the sla app's sync registry (``sla/sync.py``)."""
        from integrations.jira import sla_sync

        sla_sync.register()
