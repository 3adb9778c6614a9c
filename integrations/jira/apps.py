from django.apps import AppConfig


class JiraConfig(AppConfig):
    name = "integrations.jira"
    label = "jira"
    verbose_name = "Jira Service Management"
    default_auto_field = "django.db.models.BigAutoField"
