"""The tickets app's tiles on the agent home (``itsm.analytics.home``): two queries."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from itsm.analytics.home import Section, Tile, register_section
from itsm.kpis import rounded
from tickets.models import Ticket
from tickets.models.ticket import OPEN_STATUSES


def queue_url(**params: Any) -> str:
    return reverse("tickets:ticket-list") + "?" + urlencode(params, doseq=True)


def week_start() -> datetime:
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday, time(0), tzinfo=timezone.get_current_timezone())


def my_work(user: Any) -> list[Tile]:
    team_ids = list(user.teams.values_list("pk", flat=True))
    since = week_start()
    counts = Ticket.objects.filter(
        Q(assignee=user) | Q(team_id__in=team_ids, assignee__isnull=True)
    ).aggregate(
        mine=Count("pk", filter=Q(assignee=user, status__in=OPEN_STATUSES, archived=False)),
        unassigned=Count(
            "pk",
            filter=Q(team_id__in=team_ids, assignee__isnull=True, status__in=OPEN_STATUSES, archived=False),
        ),
    )

    # My week: tickets I resolved since Monday, their median time to resolve, and my first responses.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE resolved_at >= %(since)s AND status IN ('resolved', 'closed')),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN resolved_at >= %(since)s"
            "  AND status IN ('resolved', 'closed') THEN extract(epoch FROM resolved_at - created_at) / 3600 END),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN first_response_at >= %(since)s"
            "  THEN extract(epoch FROM first_response_at - created_at) / 60 END)"
            " FROM tickets_ticket WHERE assignee_id = %(user)s"
            # Two index ranges (resolved since Monday; first replies to tickets of the last 30 days)
            # rather than every ticket the agent ever had.
            " AND (resolved_at >= %(since)s"
            "  OR (created_at >= %(since)s - interval '30 days' AND first_response_at >= %(since)s))",
            {"since": since, "user": user.pk},
        )
        resolved, mttr, frt = cursor.fetchone()
    open_statuses = list(OPEN_STATUSES)
    done = ["resolved", "closed"]
    return [
        Tile("my_open", _("My open tickets"), counts["mine"], queue_url(assignee="me", status=open_statuses)),
        Tile(
            "team_unassigned",
            _("Unassigned in my teams"),
            counts["unassigned"],
            queue_url(assignee="none", team=team_ids, status=open_statuses),
            tone="warn" if counts["unassigned"] else "",
        ),
        Tile(
            "week_resolved",
            _("Resolved this week"),
            resolved,
            queue_url(assignee="me", status=done, sort="-updated"),
            tone="ok" if resolved else "",
        ),
        Tile(
            "week_mttr",
            _("My median time to resolve"),
            rounded(mttr, 1),
            queue_url(assignee="me", status=done, sort="-updated"),
            unit=_("h"),
            hint=_("Tickets I resolved this week"),
        ),
        Tile(
            "week_frt",
            _("My median first response"),
            None if frt is None else round(frt),
            queue_url(assignee="me", sort="-updated"),
            unit=_("min"),
            hint=_("First replies this week"),
        ),
    ]


def register() -> None:
    register_section(Section("tickets", gettext_lazy("My work"), my_work, order=20))
