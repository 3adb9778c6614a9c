from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """Sign-in policy and records: SSO, enforced two-factor, sign-in log, allowlists, audit."""

    name = "itsm.security"
    label = "security"
    verbose_name = "Security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from itsm.security import receivers

        receivers.connect()
