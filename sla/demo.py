"""The SLA side of ``seed_demo``: clocks for the demo history (set-based, as the policies would
have set them) and the queue's clocks moved back with their tickets. Idempotent."""

from __future__ import annotations

from typing import Any

from django.db import connection


def seed_clocks(sender: Any, **kwargs: Any) -> None:
    with connection.cursor() as cursor:
        # The queue's tickets were moved back by their age: their clocks follow, once (a clock
        # that starts after its ticket was created has not moved yet).
        cursor.execute(
            "WITH moved AS (SELECT id, (metadata->>'demo_age_minutes')::int AS age, created_at FROM tickets_ticket"
            "  WHERE metadata ? 'demo_age_minutes')"
            " UPDATE sla_ticketsla c SET started_at = c.started_at - make_interval(mins => m.age),"
            "  due_at = c.due_at - make_interval(mins => m.age), warn_at = c.warn_at - make_interval(mins => m.age),"
            "  stopped_at = c.stopped_at - make_interval(mins => m.age),"
            "  breached_at = c.breached_at - make_interval(mins => m.age),"
            "  created_at = c.created_at - make_interval(mins => m.age)"
            " FROM moved m WHERE c.ticket_id = m.id AND c.started_at > m.created_at"
        )
        cursor.execute(
            "WITH moved AS (SELECT id, (metadata->>'demo_age_minutes')::int AS age, created_at FROM tickets_ticket"
            "  WHERE metadata ? 'demo_age_minutes')"
            " UPDATE sla_slapause p SET started_at = p.started_at - make_interval(mins => m.age),"
            "  ended_at = p.ended_at - make_interval(mins => m.age)"
            " FROM moved m WHERE p.ticket_id = m.id AND p.started_at > m.created_at + make_interval(mins => m.age)"
        )
        # History: both clocks under the default policy of the ticket's priority, scaled by the
        # customer tier, stopped at the first response and at the resolution (or cancellation).
        cursor.execute(
            """
            INSERT INTO sla_ticketsla (ticket_id, metric, policy_id, calendar_id, source, target_seconds,
                warning_threshold_percent, started_at, due_at, warn_at, paused_seconds, paused_business_seconds,
                stopped_at, breached_at, state, escalation_level, created_at, updated_at)
            SELECT t.id, m.metric, p.id, p.calendar_id, 'local', s.target, p.warning_threshold_percent,
                   t.created_at, t.created_at + make_interval(secs => s.target),
                   t.created_at + make_interval(secs => s.target * (100 - p.warning_threshold_percent) / 100.0),
                   0, 0, s.stopped,
                   CASE WHEN s.stopped > t.created_at + make_interval(secs => s.target)
                        THEN t.created_at + make_interval(secs => s.target) END,
                   CASE WHEN s.stopped > t.created_at + make_interval(secs => s.target) THEN 'breached' ELSE 'met' END,
                   0, t.created_at, coalesce(s.stopped, t.created_at)
            FROM tickets_ticket t
            CROSS JOIN (VALUES ('response'), ('resolution')) AS m(metric)
            JOIN sla_slapolicy p ON p.priority = t.priority AND p.is_active AND p.ticket_type = ''
                 AND p.category_id IS NULL AND p.organisation_id IS NULL
            LEFT JOIN itsm_organisation o ON o.id = t.organisation_id
            LEFT JOIN sla_tiermultiplier k ON k.tier = o.tier
            CROSS JOIN LATERAL (SELECT
                greatest(1, ((CASE WHEN m.metric = 'response' THEN p.response_minutes ELSE p.resolution_minutes END)
                             * 60 * coalesce(k.multiplier, 1))::int) AS target,
                CASE WHEN m.metric = 'response' THEN coalesce(t.first_response_at, t.resolved_at, t.updated_at)
                     ELSE coalesce(t.resolved_at, t.updated_at) END AS stopped) AS s
            WHERE t.metadata @> '{"demo_history": true}'
              AND NOT EXISTS (SELECT 1 FROM sla_ticketsla c WHERE c.ticket_id = t.id AND c.metric = m.metric)
            """
        )
