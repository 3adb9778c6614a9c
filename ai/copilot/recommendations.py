"""Recommendations from the KPIs and the queues, each with its evidence numbers and a link to act.

``do_generate_recommendations`` runs every rule (one aggregate query each) and inserts what it
finds with ``ON CONFLICT DO NOTHING`` against the unique ``(kind, key)``: two workers running it
at once, or a run while one is open, raise nothing twice. Keys carry the ISO week (the month for
articles to write), so a dismissed recommendation comes back the next week only if the numbers
still say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from ai.copilot.models import Recommendation, RecommendationKind, RecommendationStatus

# Thresholds: a rise is ≥ RISE_FACTOR × the weekly average of the 4 weeks before, with ≥ RISE_MIN.
RISE_FACTOR, RISE_MIN = 2.0, 5
BREACH_MIN, BREACH_SHARE = 5, 0.2
UNHELPFUL_MIN = 3
TRIAGE_MIN, TRIAGE_WRONG_SHARE = 20, 0.3
RESOLVED_WITHOUT_ARTICLE_MIN = 10


@dataclass
class Found:
    kind: str
    key: str
    title: str
    evidence: dict[str, Any]
    action_url: str
    action_label: str


def _rows(sql: str, params: dict[str, Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def rising_categories(now: datetime, week: str) -> list[Found]:
    rows = _rows(
        "SELECT c.id, c.name, count(*) FILTER (WHERE t.created_at >= %(week)s) AS recent,"
        " count(*) FILTER (WHERE t.created_at < %(week)s) / 4.0 AS usual"
        " FROM tickets_ticket t JOIN tickets_category c ON c.id = t.category_id"
        " WHERE t.type = 'incident' AND t.created_at >= %(start)s AND t.created_at < %(now)s"
        " GROUP BY c.id, c.name",
        {"week": now - timedelta(days=7), "start": now - timedelta(days=35), "now": now},
    )
    return [
        Found(
            RecommendationKind.RISING_CATEGORY,
            f"category:{category_id}:{week}",
            _("Incidents in %(category)s rose sharply this week: open a problem?") % {"category": name},
            {"category": name, "last_7_days": recent, "weekly_average_before": round(float(usual), 1)},
            reverse("problems:problem-create"),
            _("Open a problem"),
        )
        for category_id, name, recent, usual in rows
        if recent >= RISE_MIN and recent >= RISE_FACTOR * float(usual)
    ]


def teams_over_capacity(now: datetime, week: str) -> list[Found]:
    rows = _rows(
        "SELECT team.id, team.name, coalesce(load.open, 0), coalesce(cap.capacity, 0) FROM itsm_team team"
        " LEFT JOIN (SELECT team_id, count(*) AS open FROM tickets_ticket"
        "   WHERE status IN ('new','open','in_progress','pending_customer','pending_vendor')"
        "   AND archived = false AND team_id IS NOT NULL GROUP BY team_id) load ON load.team_id = team.id"
        " LEFT JOIN (SELECT m.team_id, sum(u.capacity) AS capacity FROM itsm_team_members m"
        "   JOIN itsm_user u ON u.id = m.user_id WHERE u.is_active AND u.is_available"
        "   AND u.role IN ('agent','admin') GROUP BY m.team_id) cap ON cap.team_id = team.id",
        {},
    )
    over = [
        (pk, name, load, capacity)
        for pk, name, load, capacity in rows
        if load > capacity > 0 or (load and not capacity)
    ]
    roomy = sorted(
        ((capacity - load, name) for _pk, name, load, capacity in rows if capacity and load < capacity / 2),
        reverse=True,
    )
    if not roomy:
        return []
    return [
        Found(
            RecommendationKind.TEAM_OVER_CAPACITY,
            f"team:{pk}:{week}",
            _("%(team)s is over capacity while %(other)s has room: rebalance?")
            % {"team": name, "other": roomy[0][1]},
            {
                "team": name,
                "open": load,
                "capacity": capacity,
                "team_with_room": roomy[0][1],
                "room": roomy[0][0],
            },
            reverse("tickets:ticket-list") + f"?team={pk}&status=open",
            _("See the queue"),
        )
        for pk, name, load, capacity in over
    ]


def breached_policies(now: datetime, week: str) -> list[Found]:
    rows = _rows(
        "SELECT p.id, p.name, count(*) FILTER (WHERE c.breached_at IS NOT NULL) AS breached, count(*) AS ended"
        " FROM sla_ticketsla c JOIN sla_slapolicy p ON p.id = c.policy_id"
        " WHERE (c.breached_at >= %(start)s AND c.breached_at < %(now)s)"
        "    OR (c.stopped_at >= %(start)s AND c.stopped_at < %(now)s)"
        " GROUP BY p.id, p.name",
        {"start": now - timedelta(days=7), "now": now},
    )
    return [
        Found(
            RecommendationKind.SLA_POLICY_BREACHED,
            f"policy:{pk}:{week}",
            _("SLA policy %(policy)s was breached often this week: review its targets or the staffing?")
            % {"policy": name},
            {
                "policy": name,
                "breached": breached,
                "clocks_ended": ended,
                "share": round(breached / ended, 2),
            },
            reverse("admin:sla_slapolicy_change", args=[pk]),
            _("Review the policy"),
        )
        for pk, name, breached, ended in rows
        if breached >= BREACH_MIN and breached / ended >= BREACH_SHARE
    ]


def unhelpful_articles(now: datetime, week: str) -> list[Found]:
    rows = _rows(
        "SELECT a.id, a.title, count(*) FILTER (WHERE NOT v.helpful), count(*) FILTER (WHERE v.helpful)"
        " FROM knowledge_articlevote v JOIN knowledge_knowledgearticle a ON a.id = v.article_id"
        " WHERE v.updated_at >= %(start)s GROUP BY a.id, a.title",
        {"start": now - timedelta(days=30)},
    )
    return [
        Found(
            RecommendationKind.ARTICLE_UNHELPFUL,
            f"article:{pk}:{week}",
            _("Article “%(title)s” was voted unhelpful repeatedly: revise it?") % {"title": title},
            {"article": title, "unhelpful_votes_30_days": bad, "helpful_votes_30_days": good},
            reverse("ai:kb-article-edit", args=[pk]),
            _("Revise the article"),
        )
        for pk, title, bad, good in rows
        if bad >= UNHELPFUL_MIN and bad > good
    ]


def corrected_triage(now: datetime, week: str) -> list[Found]:
    rows = _rows(
        "SELECT field, count(*) FILTER (WHERE correct = false), count(*) FROM triage_triageresult"
        " WHERE evaluated_at >= %(start)s AND correct IS NOT NULL GROUP BY field",
        {"start": now - timedelta(days=30)},
    )
    return [
        Found(
            RecommendationKind.TRIAGE_CORRECTED,
            f"triage:{field}:{week}",
            _("Triage suggestions for %(field)s are often corrected: retrain, or switch it to assist?")
            % {"field": field},
            {"field": field, "corrected": wrong, "evaluated": total, "share": round(wrong / total, 2)},
            reverse("ai:triage-metrics"),
            _("See triage metrics"),
        )
        for field, wrong, total in rows
        if total >= TRIAGE_MIN and wrong / total >= TRIAGE_WRONG_SHARE
    ]


def categories_without_articles(now: datetime, month: str) -> list[Found]:
    rows = _rows(
        "SELECT c.id, c.name, count(*) FROM tickets_ticket t JOIN tickets_category c ON c.id = t.category_id"
        " WHERE t.resolved_at >= %(start)s AND t.resolved_at < %(now)s"
        " AND NOT EXISTS (SELECT 1 FROM knowledge_knowledgearticle a"
        "   WHERE a.category_id = c.id AND a.status = 'published')"
        " GROUP BY c.id, c.name",
        {"start": now - timedelta(days=30), "now": now},
    )
    return [
        Found(
            RecommendationKind.MISSING_ARTICLE,
            f"category:{pk}:{month}",
            _(
                "%(count)s %(category)s tickets were resolved this month and no article covers them: write one?"
            )
            % {"count": count, "category": name},
            {"category": name, "resolved_30_days": count, "published_articles": 0},
            reverse("ai:kb-article-create"),
            _("Write an article"),
        )
        for pk, name, count in rows
        if count >= RESOLVED_WITHOUT_ARTICLE_MIN
    ]


def find_all(now: datetime) -> list[Found]:
    year, number, _day = timezone.localtime(now).isocalendar()
    week = f"{year}-W{number:02d}"
    month = timezone.localtime(now).strftime("%Y-%m")
    return [
        *rising_categories(now, week),
        *teams_over_capacity(now, week),
        *breached_policies(now, week),
        *unhelpful_articles(now, week),
        *corrected_triage(now, week),
        *categories_without_articles(now, month),
    ]


@transaction.atomic
def do_generate_recommendations(*, now: datetime | None = None) -> int:
    """Write the recommendations the numbers call for; returns how many were new."""
    now = now or timezone.now()
    found = find_all(now)
    before = Recommendation.objects.count()
    Recommendation.objects.bulk_create(
        [
            Recommendation(
                kind=item.kind,
                key=item.key,
                title=item.title[:300],
                evidence=item.evidence,
                action_url=item.action_url,
                action_label=item.action_label,
                created_at=now,
            )
            for item in found
        ],
        ignore_conflicts=True,  # this (kind, key) was raised already: once per period
    )
    return Recommendation.objects.count() - before


class AlreadyClosed(Exception):
    """The recommendation was dismissed or done already (the API answers 409)."""


def do_close_recommendation(recommendation: Recommendation, *, actor: Any, status: str) -> Recommendation:
    """Dismiss or mark done, once: a conditional update, so two clicks change it once."""
    if not actor.is_agent:
        raise PermissionDenied(_("Agents decide recommendations."))
    now = timezone.now()
    changed = Recommendation.objects.filter(pk=recommendation.pk, status=RecommendationStatus.OPEN).update(
        status=status, decided_by=actor, decided_at=now
    )
    if not changed:
        raise AlreadyClosed(_("This recommendation is no longer open."))
    recommendation.refresh_from_db()
    return recommendation
