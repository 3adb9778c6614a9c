from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "integrations.email"
    label = "mail"
    verbose_name = "Email"
    default_auto_field = "django.db.models.BigAutoField"
