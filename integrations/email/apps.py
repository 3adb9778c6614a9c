from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "integrations.email"
    label = "mail"
    verbose_name = "Email"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks as django_checks

        from integrations.email import checks, receivers

        receivers.connect()
        django_checks.register(checks.one_reply_mailer, django_checks.Tags.compatibility)
