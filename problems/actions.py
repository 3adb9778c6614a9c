"""Problem workflows: pages, API, tasks and commands call these."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from itsm.models import AutomationEvent
from problems import signals
from problems.models import Problem, ProblemIncident, ProblemStatus, RecurrenceCandidate
from tickets.models import Ticket, TicketType

if TYPE_CHECKING:
    from itsm.models import User


def check_can_manage(actor: User | None) -> None:
    if actor is not None and not actor.is_agent:
        raise PermissionDenied("Only agents manage problems.")


@transaction.atomic
def do_create_problem(
    *,
    actor: User | None,
    title: str,
    description: str = "",
    category: Any = None,
    team: Any = None,
    owner: User | None = None,
    incidents: list[Ticket] | None = None,
    detected: bool = False,
) -> Problem:
    check_can_manage(actor)
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "A title is required."})
    problem = Problem.objects.create(
        title=title[:255],
        description=description or "",
        category=category,
        team=team,
        owner=owner,
        detected=detected,
    )
    for ticket in incidents or []:
        do_link_incident(problem, ticket, actor=actor)
    return problem


@transaction.atomic
def do_link_incident(problem: Problem, ticket: Ticket, *, actor: User | None) -> ProblemIncident:
    check_can_manage(actor)
    if ticket.type != TicketType.INCIDENT:
        raise ValidationError({"ticket": f"{ticket.number} is not an incident."})
    if actor is not None and not ticket.is_visible_to(actor):
        raise ValidationError({"ticket": "No such ticket."})
    existing = ProblemIncident.objects.select_for_update().filter(ticket=ticket).first()
    if existing is not None:
        if existing.problem_id == problem.pk:
            return existing  # linking twice changes nothing
        raise ValidationError({"ticket": f"{ticket.number} is already linked to another problem."})
    link = ProblemIncident.objects.create(problem=problem, ticket=ticket, linked_by=actor)
    Problem.objects.filter(pk=problem.pk).update(updated_at=timezone.now())
    return link


@transaction.atomic
def do_unlink_incident(problem: Problem, ticket: Ticket, *, actor: User | None) -> bool:
    check_can_manage(actor)
    deleted, _ = ProblemIncident.objects.filter(problem=problem, ticket=ticket).delete()
    return bool(deleted)


@transaction.atomic
def do_transition_problem(
    problem: Problem,
    status: str,
    *,
    actor: User | None,
    root_cause: str | None = None,
    workaround: str | None = None,
    fix: str | None = None,
) -> Problem:
    check_can_manage(actor)
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    changed = []
    for name, value in (("root_cause", root_cause), ("workaround", workaround), ("fix", fix)):
        if value is not None and getattr(problem, name) != value:
            setattr(problem, name, value)
            changed.append(name)
    if changed:
        problem.save(update_fields=changed)
    if status != problem.status:
        problem.transition_to(status)
    return problem


def _similar_pairs(since: Any, threshold: float) -> list[tuple[int, int, float]]:
    """Pairs of recent, unlinked incidents with similar titles (pg_trgm), in one query.

    Sensitive incidents are left out: a detected problem is read by every agent and viewer, and
    is titled after its oldest incident, so a sensitive ticket must never seed, name or join one.
    Agents who may see a sensitive incident link it to a problem by hand if it belongs there.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_limit(%s)", [threshold])
        cursor.execute(
            """
            WITH recent AS (
                SELECT t.id, t.title, t.category_id FROM tickets_ticket t
                LEFT JOIN problems_problemincident l ON l.ticket_id = t.id
                WHERE t.type = 'incident' AND t.created_at >= %s AND NOT t.archived
                  AND NOT t.sensitive AND t.status <> 'cancelled' AND l.id IS NULL
            )
            SELECT a.id, b.id, similarity(a.title, b.title)
            FROM recent a JOIN recent b ON a.id < b.id AND a.title %% b.title
            WHERE a.category_id IS NOT DISTINCT FROM b.category_id
            """,
            [since],
        )
        return cursor.fetchall()


def _clusters(pairs: list[tuple[int, int, float]]) -> list[set[int]]:
    parent: dict[int, int] = {}

    def find(node: int) -> int:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for left, right, _score in pairs:
        parent[find(left)] = find(right)
    groups: dict[int, set[int]] = {}
    for node in list(parent):
        groups.setdefault(find(node), set()).add(node)
    return list(groups.values())


@transaction.atomic
def do_detect_recurrences(
    *, actor: User | None = None, dry_run: bool = False, now: Any = None
) -> list[dict[str, Any]]:
    """Find clusters of similar recent incidents; open a problem for each new cluster.

    Idempotent: a cluster is identified by its seed (oldest incident), so a second run opens
    nothing new for the same incidents; incidents already linked are left out.
    """
    check_can_manage(actor)
    now = now or timezone.now()
    since = now - timedelta(days=settings.PROBLEM_DETECTION_WINDOW_DAYS)
    pairs = _similar_pairs(since, settings.PROBLEM_DETECTION_SIMILARITY)
    scores: dict[frozenset[int], float] = {frozenset((a, b)): s for a, b, s in pairs}
    report = []
    for cluster in _clusters(pairs):
        if len(cluster) < settings.PROBLEM_DETECTION_MIN_INCIDENTS:
            continue
        seed = min(cluster)
        signature = hashlib.sha256(f"seed:{seed}".encode()).hexdigest()[:32]
        tickets = list(Ticket.objects.filter(pk__in=cluster).order_by("created_at", "id"))
        score = max((s for key, s in scores.items() if key <= cluster), default=0.0)
        entry = {
            "signature": signature,
            "title": tickets[0].title,
            "tickets": [t.number for t in tickets],
            "size": len(tickets),
            "score": round(score, 3),
            "problem": None,
        }
        if RecurrenceCandidate.objects.filter(signature=signature).exists():
            continue
        report.append(entry)
        if dry_run:
            continue
        candidate = RecurrenceCandidate.objects.create(
            signature=signature, title=tickets[0].title[:255], size=len(tickets), score=score
        )
        candidate.tickets.set(tickets)
        if settings.PROBLEM_AUTO_CREATE:
            problem = do_create_problem(
                actor=None,
                title=f"Recurring: {tickets[0].title}"[:255],
                description="Opened by recurrence detection from "
                + ", ".join(t.number for t in tickets)
                + ".",
                category=tickets[0].category,
                team=tickets[0].team,
                incidents=tickets,
                detected=True,
            )
            candidate.problem = problem
            candidate.state = RecurrenceCandidate.State.ACCEPTED
            candidate.save(update_fields=["problem", "state"])
            entry["problem"] = problem.number
            trace_id = uuid.uuid4()
            AutomationEvent.objects.create(
                actor="system:problems",
                action="problem.detected",
                subject_type="problem",
                subject_id=str(problem.pk),
                after={"incidents": entry["tickets"], "score": entry["score"]},
                reason=f"{len(tickets)} similar incidents within {settings.PROBLEM_DETECTION_WINDOW_DAYS} days",
                trace_id=trace_id,
            )
            signals.problem_detected.send(
                sender=Problem, problem=problem, incidents=tickets, trace_id=str(trace_id)
            )
    return report


def problem_status_choices() -> list[tuple[str, str]]:
    return list(ProblemStatus.choices)
