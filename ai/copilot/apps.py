from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop


class CopilotConfig(AppConfig):
    name = "ai.copilot"
    label = "copilot"
    verbose_name = "Copilot"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ai.copilot import calibration, kpis
        from ai.triage.signals import training_run
        from itsm import navigation
        from tickets import extensions

        kpis.register()
        # The nightly training and ``ai_train`` refit the quick fix's confidence too.
        training_run.connect(calibration.on_training_run, dispatch_uid="copilot-quick-fix-calibration")

        # On every ticket page and the requester's portal ticket page: the copilot answers as
        # whoever reads it (a requester's copilot sees their own tickets and public articles).
        extensions.register_detail_panel(
            extensions.DetailPanel(
                name="ai-copilot",
                label=_("Copilot"),
                url_name="ai:copilot-panel",
                order=20,
                agents_only=False,
                portal=True,
            )
        )
        navigation.register(
            navigation.NavItem(label=gettext_noop("Copilot"), url_name="ai:copilot", order=65)
        )
