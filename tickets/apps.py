from django.apps import AppConfig
from django.utils.translation import gettext_noop


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from itsm.lib import listcache
        from itsm.navigation import NavItem, register
        from itsm.security.audit import watch_creation
        from itsm.security.models import SecurityAction
        from tickets import receivers
        from tickets.models import Category, Macro, SavedView

        # Labels are translated when the menu is rendered (base.html), so mark them only.
        staff = frozenset({"agent", "admin", "viewer"})
        register(NavItem(label=gettext_noop("Queues"), url_name="tickets:ticket-list", order=10, roles=staff))
        register(
            NavItem(
                label=gettext_noop("New ticket"),
                url_name="tickets:ticket-create",
                order=11,
                roles=frozenset({"agent", "admin"}),
            )
        )
        register(
            NavItem(
                label=gettext_noop("My tickets"),
                url_name="tickets:portal-home",
                order=10,
                roles=frozenset({"user"}),
            )
        )
        register(
            NavItem(
                label=gettext_noop("New request"),
                url_name="tickets:portal-catalog",
                order=11,
                roles=frozenset({"user"}),
            )
        )
        receivers.connect()
        # What the queue's filter bar and bulk form list (itsm watches users and teams).
        listcache.watch(Category, Macro, SavedView)
        from django.urls import reverse

        from itsm.approvals import registry

        # A catalog request's approval links to the requester's portal page, or the agents' page.
        registry.register_target(
            "tickets.Ticket",
            label=lambda ticket: f"{ticket.number} {ticket.title}",
            url=lambda ticket, user: reverse(
                "tickets:portal-ticket" if getattr(user, "is_requester", False) else "tickets:ticket-detail",
                args=[ticket.pk],
            ),
        )
        from itsm.analytics.metrics import register_collector
        from tickets import home, kpis, prometheus

        kpis.register()
        home.register()
        register_collector("tickets", prometheus.collect)
        # Who exported which tickets is part of the security audit.
        watch_creation(
            "tickets.ExportJob",
            action=SecurityAction.EXPORT_REQUESTED,
            actor_field="requested_by",
            fields=("format", "filters"),
        )
