from django.apps import AppConfig


class ItsmConfig(AppConfig):
    name = "itsm"
    verbose_name = "Platform"
    default_auto_field = "django.db.models.BigAutoField"
