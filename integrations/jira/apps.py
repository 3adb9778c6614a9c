from django.apps import AppConfig


class JiraConfig(AppConfig):
    name = "integrations.jira"
    label = "jira"
    verbose_name = "Jira Service Management"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.jira import outbound
        from tickets import signals

        signals.ticket_created.connect(outbound.on_ticket_created, dispatch_uid="jira-ticket-created")
        signals.comment_added.connect(outbound.on_comment_added, dispatch_uid="jira-comment-added")
        signals.comment_edited.connect(outbound.on_comment_edited, dispatch_uid="jira-comment-edited")
        signals.ticket_status_changed.connect(outbound.on_status_changed, dispatch_uid="jira-status-changed")
        self.register_sla_provider()

    def register_sla_provider(self) -> None:
        """Offer the JSM SLA to the sla app's sync registry (``sla/sync.py``)."""
        from integrations.jira import sla_sync

        sla_sync.register()
