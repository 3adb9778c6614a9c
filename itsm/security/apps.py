from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    """Sign-in policy and records: SSO, enforced two-factor, sign-in log, allowlists, audit."""

    name = "itsm.security"
    label = "security"
    verbose_name = _("Security")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from itsm.security import receivers

        receivers.connect()
