from django.apps import AppConfig
from django.db.models.signals import post_migrate


def create_cache_tables(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """The database cache's table is made by `migrate` (it has no model, so no migration):
    `make run`, deployments and the test databases all get it. Does nothing when it exists or
    when CACHE_URL names another backend."""
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


class ItsmConfig(AppConfig):
    name = "itsm"
    verbose_name = "Platform"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_noop

        from itsm import schema  # noqa: F401 - registers the OpenAPI auth extension

        post_migrate.connect(create_cache_tables, sender=self, dispatch_uid="itsm.create_cache_tables")
        from itsm.lib import listcache
        from itsm.models import Team, User

        # Choice lists of agents and teams are kept in the cache (itsm/lib/listcache.py).
        listcache.watch(User, Team, Team.members.through)
        from itsm.navigation import NavItem, register

        register(
            NavItem(
                label=gettext_noop("Dashboard"),
                url_name="dashboard",
                order=5,
                roles=frozenset({"agent", "admin", "viewer"}),
            )
        )
