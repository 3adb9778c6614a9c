"""The knowledge base's KPI (see ``itsm.kpis``): self-service deflection."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext_lazy as _

from itsm import kpis
from itsm.kpis import KPI, Computed, Unit, Window
from tickets.kpis import run, scope


def compute_deflection(window: Window, names: Sequence[str]) -> Computed:
    """Deflections and portal tickets per bucket (a deflection belongs to no ticket: no grouping)."""
    if not window.includes_desk:
        return {}
    sql = (
        f"SELECT b, sum(deflected), sum(submitted) FROM ("  # noqa: S608
        f" SELECT {window.bucket('d.created_at')} AS b, 1 AS deflected, 0 AS submitted"
        " FROM knowledge_deflectionevent d WHERE d.created_at >= %(start)s AND d.created_at < %(end)s"
        f" UNION ALL SELECT {window.bucket('t.created_at')}, 0, 1 FROM tickets_ticket t"
        " WHERE t.channel = 'portal' AND t.created_at >= %(start)s AND t.created_at < %(end)s"
        ") AS events GROUP BY 1"
    )
    return {
        (bucket, window.desk_key): {
            "deflection_rate": kpis.ratio(int(deflected), int(deflected) + int(submitted))
        }
        for bucket, deflected, submitted in run(sql, window.params)
    }


def compute_smart_replies(window: Window, names: Sequence[str]) -> Computed:
    """Smart-reply drafts made and sent in the window, by the ticket's groupings."""
    joins, group, conditions = scope(window)
    sql = (
        f"SELECT {window.bucket('d.created_at')} AS b, {group} AS g,"  # noqa: S608
        " count(*) FILTER (WHERE d.kind = 'drafted'), count(*) FILTER (WHERE d.kind = 'sent')"
        " FROM knowledge_replydraftevent d JOIN tickets_ticket t ON t.id = d.ticket_id"
        f" {joins}"
        f" WHERE d.created_at >= %(start)s AND d.created_at < %(end)s{conditions} GROUP BY 1, 2"
    )
    return {
        (bucket, key): {
            "ai_smart_reply_drafts": int(drafted),
            "ai_smart_reply_sent_rate": kpis.ratio(int(sent), int(drafted)),
        }
        for bucket, key, drafted, sent in run(sql, window.params)
    }


def register() -> None:
    kpis.register(
        KPI(
            "ai_smart_reply_drafts",
            _("Smart-reply drafts"),
            Unit.COUNT,
            "Smart-reply drafts agents asked for in the range (the ticket page's Draft a reply, or "
            "POST /api/ai/tickets/{id}/draft-reply/).",
            compute_smart_replies,
            app="ai",
        )
    )
    kpis.register(
        KPI(
            "ai_smart_reply_sent_rate",
            _("Smart replies sent"),
            Unit.RATE,
            "Smart-reply drafts sent (edited or not) as the ticket's public reply in the range, over "
            "the drafts asked for in the range.",
            compute_smart_replies,
            better="up",
            app="ai",
        )
    )
    kpis.register(
        KPI(
            "deflection_rate",
            _("Self-service deflection"),
            Unit.RATE,
            "Requesters shown suggested articles on the new-ticket form who left without submitting "
            "(deflection events in the range), over those deflections plus the tickets opened on the "
            "portal in the range. Not groupable: a deflection has no ticket.",
            compute_deflection,
            groupings=(),
            better="up",
            app="ai",
        )
    )
