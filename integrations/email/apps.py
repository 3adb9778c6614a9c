from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "integrations.email"
    label = "mail"
    verbose_name = "Email"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.email import checks, receivers  # noqa: F401  (checks register on import)
        from tickets import signals

        signals.ticket_created.connect(receivers.acknowledge_email_ticket, dispatch_uid="mail.acknowledge")
        signals.comment_added.connect(receivers.mail_public_reply, dispatch_uid="mail.reply")
