"""SLA sweep at scale: N open tickets with live response and resolution clocks.

    .venv/bin/python bench/sla_sweep.py                       # 100,000 open tickets (200,000 clocks)
    .venv/bin/python bench/sla_sweep.py --tickets 20000       # a quick run
    .venv/bin/python bench/sla_sweep.py --backlog-percent 10  # also: 10 % of the clocks breach at once

Loads the tickets and their clocks into a dedicated database (``itsm_sla_bench`` on the embedded
server, or ``BENCH_DATABASE_URL``) with set-based ``INSERT … SELECT generate_series`` (every
trigger and index of production stays on), then times, at one instant S:

- the dry run (what would happen; nothing changes),
- the cold sweep: the clocks crossing into at-risk (0.1 % of them by default) and breach (0.05 %) are claimed,
  their events, AutomationEvents, bell notifications and e-mail jobs written, the first
  escalation step (notify the team lead) taken, the signals sent;
- the same sweep again at S: idempotent, it must find nothing to do;
- one advisory risk pass (``SLA_RISK_BATCH`` clocks);
- optionally a backlog: a share of all clocks breaching at once (a sweep that was down for hours).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 50_000


def configure(database: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
    os.environ.setdefault("ITSM_ENV", "development")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["EMBEDDED_DATABASE_NAME"] = database
    import django

    django.setup()


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE tickets_ticket, itsm_notification, itsm_automationevent, procrastinate_jobs CASCADE"
        )


def seed_people() -> dict[str, int]:
    from itsm.models import Organisation, Role, Team, User

    team, _ = Team.objects.get_or_create(name="Bench desk")
    agents = []
    for n in range(8):
        agent, _ = User.objects.get_or_create(
            email=f"agent{n}@sla-bench.example", defaults={"role": Role.AGENT, "full_name": f"Agent {n}"}
        )
        team.members.add(agent)
        agents.append(agent)
    team.lead = agents[0]
    team.save()
    organisation, _ = Organisation.objects.get_or_create(name="Bench customer", defaults={"tier": "standard"})
    requester, _ = User.objects.get_or_create(
        email="requester@sla-bench.example", defaults={"role": Role.USER, "organisation": organisation}
    )
    return {
        "team": team.pk,
        "first_agent": min(a.pk for a in agents),
        "agents": len(agents),
        "requester": requester.pk,
        "organisation": organisation.pk,
    }


def load(total: int, ids: dict[str, int], sweep_at, *, at_risk: int, breach: int) -> None:
    """Open tickets and both clocks, shaped so that at ``sweep_at`` ``at_risk`` in 10,000 clocks
    have just crossed into at-risk and ``breach`` in 10,000 into breach; the rest are on track."""
    from django.db import connection

    from sla.models import SLAPolicy

    policy = {p.priority: p.pk for p in SLAPolicy.objects.filter(name__endswith="(default)")}
    for offset in range(0, total, BATCH):
        size = min(BATCH, total - offset)
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
            INSERT INTO tickets_ticket (
                number, type, title, description, status, impact, urgency, priority, priority_overridden,
                priority_reason, service, channel, requester_id, organisation_id, assignee_id, team_id, tags,
                linked_entity_type, linked_entity_id, sensitive, archived, resolution, metadata, external_key,
                created_at, updated_at, reopen_count, version
            )
            SELECT 'INC-' || lpad(nextval('tickets_incident_number_seq')::text, 7, '0'), 'incident',
                   'Bench ticket ' || i, 'Benchmark ticket ' || i,
                   (ARRAY['new', 'open', 'in_progress'])[1 + i %% 3], 'medium', 'medium',
                   (ARRAY['critical', 'high', 'medium', 'low'])[1 + i %% 4], false, '', '', 'web',
                   %(requester)s, %(organisation)s, %(first_agent)s + (i %% %(agents)s), %(team)s,
                   ARRAY[]::varchar(50)[], '', '', false, false, '', '{{}}'::jsonb, '',
                   %(at)s - interval '10 minutes', %(at)s - interval '10 minutes', 0, 1
            FROM generate_series({offset + 1}::bigint, {offset + size}::bigint) AS i
            """,
                {**ids, "at": sweep_at},
            )  # noqa: S608 - generated from constants
        print(
            f"  loaded {offset + size:>9,} tickets ({size / (time.perf_counter() - began):,.0f} rows/s)",
            flush=True,
        )
    with connection.cursor() as cursor:
        # h spreads the clocks: h < A → just at risk; A ≤ h < A + B → just breached; else on track.
        cursor.execute(
            """
        INSERT INTO sla_ticketsla (
            ticket_id, metric, policy_id, calendar_id, source, target_seconds, warning_threshold_percent,
            started_at, due_at, warn_at, paused_seconds, paused_business_seconds, state, escalation_level,
            created_at, updated_at
        )
        SELECT t.id, m.metric,
               (CASE t.priority WHEN 'critical' THEN %(critical)s WHEN 'high' THEN %(high)s
                                WHEN 'medium' THEN %(medium)s ELSE %(low)s END),
               (SELECT id FROM sla_calendar WHERE builtin LIMIT 1), 'local', 3600, 15,
               t.created_at,
               CASE WHEN h < %(a)s + %(b)s THEN %(at)s + (CASE WHEN h < %(a)s THEN interval '5 minutes'
                                                              ELSE interval '-1 minute' END)
                    ELSE %(at)s + interval '1 minute' * (30 + h %% 600) END,
               CASE WHEN h < %(a)s THEN %(at)s - interval '1 minute'
                    WHEN h < %(a)s + %(b)s THEN %(at)s - interval '10 minutes'
                    ELSE %(at)s + interval '1 minute' * (20 + h %% 600) END,
               0, 0, 'on_track', 0, %(at)s, %(at)s
        FROM tickets_ticket AS t
        CROSS JOIN (VALUES ('response'), ('resolution')) AS m(metric)
        CROSS JOIN LATERAL (SELECT ((t.id * 2654435761 + length(m.metric)) %% 10000) AS h) AS spread
        """,
            {**policy, "at": sweep_at, "a": at_risk, "b": breach},
        )
        cursor.execute("ANALYZE")


def rewind():
    """Back to the loaded shape (for --reuse): the instant S is the clocks' creation time."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE sla_slaevent, sla_slariskevaluation, itsm_notification, itsm_automationevent, "
            "procrastinate_jobs CASCADE"
        )
        cursor.execute("""
        UPDATE sla_ticketsla SET state = 'on_track', breached_at = NULL, escalation_level = 0,
               next_escalation_at = NULL, escalation_policy_id = NULL, risk_evaluated_at = NULL
        WHERE state <> 'on_track' OR risk_evaluated_at IS NOT NULL
        """)
        cursor.execute("SELECT min(created_at) FROM sla_ticketsla")
        (sweep_at,) = cursor.fetchone()
        cursor.execute("ANALYZE sla_ticketsla")
    return sweep_at


def backlog(percent: float, sweep_at) -> int:
    """Put ``percent`` % of the on-track clocks past due, as after hours without a sweep."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
        UPDATE sla_ticketsla SET due_at = %(at)s - interval '2 hours', warn_at = %(at)s - interval '3 hours'
        WHERE state = 'on_track' AND (id * 7919) %% 10000 < %(cut)s
        """,
            {"at": sweep_at, "cut": int(percent * 100)},
        )
        count = cursor.rowcount
        cursor.execute("ANALYZE sla_ticketsla")
    return count


def plan_of_claim(sweep_at) -> str:
    """The plan of the sweep's own breach claim (the SQL it compiles from the QuerySet)."""
    from django.db import connection, transaction

    from sla.sweep import claim_sql, crossing_into_breach

    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = claim_sql(crossing_into_breach(sweep_at), limit=1000)
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join("      " + row[0] for row in cursor.fetchall())


def timed(label: str, function):
    began = time.perf_counter()
    result = function()
    elapsed = time.perf_counter() - began
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--database", default="itsm_sla_bench")
    parser.add_argument(
        "--at-risk-per-10k",
        type=int,
        default=10,
        help="clocks (in 10,000) that cross into at-risk at the measured instant (default 0.1 %%)",
    )
    parser.add_argument(
        "--breach-per-10k",
        type=int,
        default=5,
        help="clocks (in 10,000) that cross into breach at the measured instant (default 0.05 %%)",
    )
    parser.add_argument("--backlog-percent", type=float, default=0.0)
    parser.add_argument("--reuse", action="store_true", help="measure again on the loaded data (no reload)")
    parser.add_argument(
        "--without-listeners",
        action="store_true",
        help="disconnect the other apps' receivers of the SLA signals (the engine alone)",
    )
    args = parser.parse_args()
    configure(args.database)

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from sla.defaults import ensure_defaults
    from sla.models import SLAEvent, TicketSLA
    from sla.risk import evaluate_due_clocks
    from sla.sweep import run_sweep

    print(f"SLA sweep benchmark: {args.tickets:,} open tickets, database {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    ensure_defaults()
    if args.reuse:
        sweep_at = rewind()
        print(f"  reusing {TicketSLA.objects.count():,} loaded clocks")
    else:
        reset()
        ids = seed_people()
        sweep_at = timezone.now().replace(microsecond=0)
        _, load_seconds = timed(
            "load",
            lambda: load(
                args.tickets, ids, sweep_at, at_risk=args.at_risk_per_10k, breach=args.breach_per_10k
            ),
        )
        print(f"  loaded {TicketSLA.objects.count():,} clocks in {load_seconds:.1f} s (total)")
    if args.without_listeners:
        from sla import signals

        for signal in (signals.sla_at_risk, signals.sla_breached, signals.sla_escalated):
            signal.receivers.clear()
            signal.sender_receivers_cache.clear()
        print("  other apps' receivers of the SLA signals disconnected")
    print("  claim plan (breaches):\n" + plan_of_claim(sweep_at))

    from django.urls import reverse

    reverse("sla:ticket-panel", args=[1])  # a worker has its URLconf loaded: do not time the first import
    dry, dry_s = timed("dry", lambda: run_sweep(now=sweep_at, dry_run=True, risk=False))
    cold, cold_s = timed("cold", lambda: run_sweep(now=sweep_at, risk=False))
    again, again_s = timed("again", lambda: run_sweep(now=sweep_at, risk=False))
    risk_count, risk_s = timed(
        "risk", lambda: evaluate_due_clocks(now=sweep_at, limit=settings.SLA_RISK_BATCH)
    )
    print()
    print(f"{'case':<44}{'seconds':>9}  result")
    print(
        f"{'dry run (changes nothing)':<44}{dry_s:>9.2f}  {dry.warnings} at risk, {dry.breaches} breaches, "
        f"{dry.escalations} escalations proposed"
    )
    actions = cold.warnings + cold.breaches + cold.escalations
    print(
        f"{'cold sweep':<44}{cold_s:>9.2f}  {cold.warnings} at risk, {cold.breaches} breaches, "
        f"{cold.escalations} escalations ({cold_s / max(actions, 1) * 1000:.1f} ms per action)"
    )
    print(
        f"{'second sweep at the same instant (idempotent)':<44}{again_s:>9.2f}  {again.warnings} at risk, "
        f"{again.breaches} breaches, {again.escalations} escalations"
    )
    print(
        f"{'advisory risk pass':<44}{risk_s:>9.2f}  {risk_count} evaluations "
        f"({risk_s / max(risk_count, 1) * 1000:.2f} ms each)"
    )
    events = SLAEvent.objects.count()
    print(f"  events written: {events:,}")
    if args.backlog_percent:
        moved = backlog(args.backlog_percent, sweep_at)
        later = sweep_at + timedelta(seconds=1)
        result, seconds = timed("backlog", lambda: run_sweep(now=later, risk=False))
        print(
            f"{f'backlog: {moved:,} clocks breaching at once':<44}{seconds:>9.2f}  {result.breaches} breaches, "
            f"{result.escalations} escalations ({seconds / max(result.breaches, 1) * 1000:.2f} ms per breach)"
        )
        _, idle = timed("idle", lambda: run_sweep(now=later, risk=False))
        print(f"{'sweep after the backlog (idempotent)':<44}{idle:>9.2f}")


if __name__ == "__main__":
    main()
