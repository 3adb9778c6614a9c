from django.apps import AppConfig
from django.utils.translation import gettext_noop


class ApprovalsConfig(AppConfig):
    """The one approvals mechanism of the platform (generic target), part of the core."""

    name = "itsm.approvals"
    label = "approvals"
    verbose_name = "Approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from itsm import navigation

        # Everyone may be asked (or ask): the page lists only their own approvals.
        navigation.register(
            navigation.NavItem(label=gettext_noop("Approvals"), url_name="approvals:approval-list", order=80)
        )
