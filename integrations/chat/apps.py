from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "integrations.chat"
    label = "chat"
    verbose_name = "Teams and Slack"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.chat import receivers

        receivers.connect()
