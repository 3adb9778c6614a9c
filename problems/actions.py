"""Problem workflows: pages, API, tasks and commands call these."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from itsm.models import AutomationEvent
from itsm.notify import notify
from problems import signals, similarity
from problems.models import Problem, ProblemIncident, ProblemNote, ProblemStatus, RecurrenceCandidate
from tickets.models import Ticket, TicketType
from tickets.models.priority import Priority
from tickets.models.ticket import audited

if TYPE_CHECKING:
    from itsm.models import User


SYSTEM_ACTOR = "system:problems"


class CandidateDecided(Exception):
    """The candidate was promoted or dismissed already (a 409)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


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
    linked = []
    with audited(actor, actor_label=SYSTEM_ACTOR):
        problem = Problem.objects.create(
            title=title[:255],
            description=description or "",
            category=category,
            team=team,
            owner=owner,
            detected=detected,
        )
        for ticket in incidents or []:
            _link, created = _link_incident(problem, ticket, actor=actor)
            if created:
                linked.append(ticket)
    signals.problem_created.send(
        sender=Problem, problem=problem, incidents=linked, actor=actor, detected=detected
    )
    return problem


def _link_incident(problem: Problem, ticket: Ticket, *, actor: User | None) -> tuple[ProblemIncident, bool]:
    """The link, and whether it is new (linking twice changes nothing)."""
    if ticket.type != TicketType.INCIDENT:
        raise ValidationError({"ticket": f"{ticket.number} is not an incident."})
    if actor is not None and not ticket.is_visible_to(actor):
        raise ValidationError({"ticket": "No such ticket."})
    existing = ProblemIncident.objects.select_for_update().filter(ticket=ticket).first()
    if existing is not None:
        if existing.problem_id == problem.pk:
            return existing, False
        raise ValidationError({"ticket": f"{ticket.number} is already linked to another problem."})
    with audited(actor, actor_label=SYSTEM_ACTOR):
        link = ProblemIncident.objects.create(problem=problem, ticket=ticket, linked_by=actor)
    Problem.objects.filter(pk=problem.pk).update(updated_at=timezone.now())
    return link, True


@transaction.atomic
def do_link_incident(problem: Problem, ticket: Ticket, *, actor: User | None) -> ProblemIncident:
    check_can_manage(actor)
    link, created = _link_incident(problem, ticket, actor=actor)
    if created:
        signals.incident_linked.send(
            sender=Problem, problem=problem, ticket=ticket, actor=actor, joined=False, link=link
        )
    return link


@transaction.atomic
def do_unlink_incident(problem: Problem, ticket: Ticket, *, actor: User | None) -> bool:
    check_can_manage(actor)
    with audited(actor, actor_label=SYSTEM_ACTOR):
        deleted, _ = ProblemIncident.objects.filter(problem=problem, ticket=ticket).delete()
    if deleted:
        Problem.objects.filter(pk=problem.pk).update(updated_at=timezone.now())
    return bool(deleted)


# The fields an agent edits on the problem page and through the API.
EDITABLE_FIELDS = (
    "title",
    "description",
    "owner",
    "team",
    "category",
    "priority",
    "root_cause",
    "workaround",
    "fix",
)


@transaction.atomic
def do_update_problem(
    problem: Problem,
    *,
    actor: User | None,
    status: str | None = None,
    affected_items: list[Any] | None = None,
    **values: Any,
) -> Problem:
    """Change any of ``EDITABLE_FIELDS``, the affected items, then the status (the transition
    map decides). Every change lands in the problem's history with its actor."""
    check_can_manage(actor)
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    if "title" in values:
        values["title"] = (values["title"] or "").strip()[:255]
        if not values["title"]:
            raise ValidationError({"title": "A title is required."})
    if "priority" in values and values["priority"] not in Priority.values:
        raise ValidationError({"priority": f"Use one of: {', '.join(Priority.values)}."})
    if "owner" in values and values["owner"] is not None and not values["owner"].is_agent:
        raise ValidationError({"owner": "The owner must be an agent."})
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    with audited(actor, actor_label=SYSTEM_ACTOR):
        changed = []
        for name, value in values.items():
            if value is None and name in ("root_cause", "workaround", "fix", "description"):
                continue
            if getattr(problem, name) != value:
                setattr(problem, name, value)
                changed.append(name)
        if changed:
            problem.updated_at = timezone.now()
            problem.save(update_fields=[*changed, "updated_at"])
        if affected_items is not None:
            problem.affected_items.set(affected_items)
        previous = problem.status
        if status is not None and status != problem.status:
            problem.transition_to(status)
    if problem.status != previous:
        signals.problem_status_changed.send(
            sender=Problem, problem=problem, previous=previous, status=problem.status, actor=actor
        )
    return problem


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
    return do_update_problem(
        problem, actor=actor, status=status, root_cause=root_cause, workaround=workaround, fix=fix
    )


@transaction.atomic
def do_add_problem_note(problem: Problem, *, actor: User, body: str) -> ProblemNote:
    check_can_manage(actor)
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "The note is empty."})
    if len(body) > 10000:
        raise ValidationError({"body": "The note is longer than 10,000 characters."})
    note = ProblemNote.objects.create(problem=problem, author=actor, body=body)
    Problem.objects.filter(pk=problem.pk).update(updated_at=timezone.now())
    return note


@transaction.atomic
def do_merge_problems(source: Problem, *, into: Problem, actor: User, reason: str = "") -> Problem:
    """Merge ``source`` into ``into``: its incidents and notes move over, it is closed as a duplicate.

    Its history stays on it (and it points at ``into``); merging twice changes nothing.
    """
    check_can_manage(actor)
    if source.pk == into.pk:
        raise ValidationError({"into": "A problem cannot be merged into itself."})
    # Both rows locked in id order: two agents merging A into B and B into A wait for each other
    # instead of deadlocking, and the second sees the first merge done.
    locked = {
        p.pk: p
        for p in Problem.objects.select_for_update().filter(pk__in=[source.pk, into.pk]).order_by("pk")
    }
    source, into = locked[source.pk], locked[into.pk]
    if source.duplicate_of_id == into.pk:
        return into  # merged already
    if source.status == ProblemStatus.CLOSED:
        raise ValidationError({"problem": f"{source.number} is closed; nothing was merged."})
    if into.status == ProblemStatus.CLOSED:
        raise ValidationError({"into": f"{into.number} is closed; merge into an open problem."})
    moved_rows = list(
        ProblemIncident.objects.filter(problem=source).values_list("ticket_id", "ticket__number")
    )
    moved_ids, moved = [pk for pk, _number in moved_rows], [number for _pk, number in moved_rows]
    with audited(actor, reason=f"merged into {into.number}"):
        ProblemIncident.objects.filter(problem=source).update(problem=into)
    ProblemNote.objects.filter(problem=source).update(problem=into)
    into.affected_items.add(*source.affected_items.all())
    now = timezone.now()
    with audited(actor, reason=reason or f"merged into {into.number}"):
        source.duplicate_of = into
        source.status = ProblemStatus.CLOSED
        source.updated_at = now
        source.save(update_fields=["duplicate_of", "status", "updated_at"])
    ProblemNote.objects.create(
        problem=into,
        author=actor,
        body=f"{source.number} ({source.title}) merged into this problem"
        + (f": {reason}" if reason else ".")
        + (f" Incidents moved: {', '.join(moved)}." if moved else ""),
    )
    Problem.objects.filter(pk=into.pk).update(updated_at=now)
    AutomationEvent.objects.record(
        actor=actor,
        action="problem.merged",
        subject=source,
        before={"status": "open"},
        after={"status": "closed", "duplicate_of": into.number, "incidents": len(moved)},
        reason=reason,
    )
    signals.problem_merged.send(
        sender=Problem,
        problem=source,
        into=into,
        incidents=list(Ticket.objects.filter(pk__in=moved_ids).order_by("pk")),
        actor=actor,
        reason=reason,
    )
    return into


def _report_entry(signature: str, tickets: list[Ticket], score: float) -> dict[str, Any]:
    return {
        "signature": signature,
        "title": tickets[0].title,
        "tickets": [t.number for t in tickets],
        "size": len(tickets),
        "score": round(score, 3),
        "problem": None,
    }


def _open_detected_problem(
    candidate: RecurrenceCandidate, tickets: list[Ticket], *, actor: User | None
) -> Problem:
    """Open the problem of a candidate (detection with auto-create on, or an agent promoting it)."""
    problem = do_create_problem(
        actor=actor,
        title=f"Recurring: {tickets[0].title}"[:255],
        description="Opened by recurrence detection from " + ", ".join(t.number for t in tickets) + ".",
        category=tickets[0].category,
        team=tickets[0].team,
        incidents=tickets,
        detected=True,
    )
    candidate.problem = problem
    candidate.state = RecurrenceCandidate.State.ACCEPTED
    candidate.updated_at = timezone.now()
    candidate.save(update_fields=["problem", "state", "updated_at"])
    trace_id = uuid.uuid4()
    AutomationEvent.objects.record(
        actor=actor if actor is not None else SYSTEM_ACTOR,
        action="problem.detected",
        subject=problem,
        after={"incidents": [t.number for t in tickets], "score": round(candidate.score, 3)},
        reason=f"{len(tickets)} similar incidents within {settings.PROBLEM_DETECTION_WINDOW_DAYS} days",
        trace_id=trace_id,
    )
    signals.problem_detected.send(sender=Problem, problem=problem, incidents=tickets, trace_id=str(trace_id))
    return problem


@transaction.atomic
def do_join_similar_incidents(
    *, actor: User | None = None, dry_run: bool = False, now: Any = None
) -> list[dict[str, Any]]:
    """Link each recent unlinked incident similar to an open problem's incidents to that problem.

    The growing cluster joins the problem it belongs to instead of opening another one; the
    owner is notified. Idempotent: a linked incident is no longer a recent unlinked one.
    """
    check_can_manage(actor)
    now = now or timezone.now()
    since = now - timedelta(days=settings.PROBLEM_DETECTION_WINDOW_DAYS)
    method = similarity.configured_method()
    if method.cosine is not None and not dry_run:
        similarity.ensure_vectors(similarity.recent_and_member_ids(since))
    found = similarity.joinable(since, method)
    tickets = Ticket.objects.in_bulk([incident for incident, _problem, _score in found])
    problems = Problem.objects.select_related("owner").in_bulk([problem for _i, problem, _s in found])
    report = []
    for incident_id, problem_id, score in found:
        ticket, problem = tickets[incident_id], problems[problem_id]
        report.append({"ticket": ticket.number, "problem": problem.number, "score": round(score, 3)})
        if dry_run:
            continue
        link, created = _link_incident(problem, ticket, actor=None)
        if not created:
            continue
        AutomationEvent.objects.record(
            actor=actor if actor is not None else SYSTEM_ACTOR,
            action="problem.incident_joined",
            subject=problem,
            after={"incident": ticket.number, "score": round(score, 3)},
            reason=f"similar to the incidents of {problem.number}",
        )
        if problem.owner is not None:
            notify(
                [problem.owner],
                verb="problem_incident_joined",
                title=f"{ticket.number} joined {problem.number}",
                url=f"/problems/{problem.pk}/",
                subject_type="problem",
                subject_id=problem.pk,
                dedupe_key=f"problem-join:{problem.pk}:{ticket.pk}",
            )
        signals.incident_linked.send(
            sender=Problem, problem=problem, ticket=ticket, actor=None, joined=True, link=link
        )
        signals.incident_joined.send(sender=Problem, problem=problem, ticket=ticket)
    return report


@transaction.atomic
def do_detect_recurrences(
    *, actor: User | None = None, dry_run: bool = False, now: Any = None
) -> list[dict[str, Any]]:
    """Find clusters of similar recent incidents; open a problem (or a candidate) for each new one.

    Idempotent: a cluster sharing incidents with a known candidate updates that candidate
    instead of making another; incidents already linked are left out. A dismissed candidate
    is raised again only once it grew by ``PROBLEM_CANDIDATE_RERAISE_AFTER`` incidents.
    """
    check_can_manage(actor)
    now = now or timezone.now()
    since = now - timedelta(days=settings.PROBLEM_DETECTION_WINDOW_DAYS)
    method = similarity.configured_method()
    if method.cosine is not None and not dry_run:
        similarity.ensure_vectors(similarity.recent_and_member_ids(since))
    pairs = similarity.similar_pairs(since, method)
    scores: dict[frozenset[int], float] = {frozenset((a, b)): s for a, b, s in pairs}
    report = []
    State = RecurrenceCandidate.State
    for cluster in similarity.clusters(pairs):
        if len(cluster) < settings.PROBLEM_DETECTION_MIN_INCIDENTS:
            continue
        seed = min(cluster)
        signature = hashlib.sha256(f"seed:{seed}".encode()).hexdigest()[:32]
        tickets = list(Ticket.objects.filter(pk__in=cluster).order_by("created_at", "id"))
        score = max((s for key, s in scores.items() if key <= cluster), default=0.0)
        sharing = RecurrenceCandidate.tickets.through.objects.filter(ticket_id__in=cluster)
        known = (
            RecurrenceCandidate.objects.select_for_update()
            .filter(pk__in=sharing.values("recurrencecandidate_id"))
            .order_by("created_at", "id")
            .first()
        )
        if known is not None:
            if known.state == State.ACCEPTED:
                continue  # incidents an agent unlinked from its problem on purpose
            grown = set(known.tickets.values_list("pk", flat=True)) != cluster
            if known.state == State.DISMISSED:
                if len(cluster) < known.dismissed_size + settings.PROBLEM_CANDIDATE_RERAISE_AFTER:
                    continue
            elif not grown:
                continue  # waiting for review already, unchanged
            entry = _report_entry(known.signature, tickets, score)
            if known.state == State.OPEN:
                entry["candidate"] = known.pk
                if not dry_run:
                    _refresh_candidate(known, tickets, score)
                continue  # grown while waiting: refreshed, not raised twice
            report.append(entry)
            if dry_run:
                continue
            candidate = known
            candidate.state = State.OPEN
            _refresh_candidate(candidate, tickets, score, extra=["state"])
        else:
            entry = _report_entry(signature, tickets, score)
            report.append(entry)
            if dry_run:
                continue
            candidate = RecurrenceCandidate.objects.create(
                signature=signature, title=tickets[0].title[:255], size=len(tickets), score=score
            )
            candidate.tickets.set(tickets)
        entry["candidate"] = candidate.pk
        if settings.PROBLEM_AUTO_CREATE:
            entry["problem"] = _open_detected_problem(candidate, tickets, actor=None).number
        else:
            AutomationEvent.objects.record(
                actor=SYSTEM_ACTOR,
                action="problem.candidate_raised",
                subject=candidate,
                after={"incidents": entry["tickets"], "score": entry["score"]},
                reason=f"{len(tickets)} similar incidents; waiting for review",
            )
    return report


def _refresh_candidate(
    candidate: RecurrenceCandidate, tickets: list[Ticket], score: float, extra: list[str] | None = None
) -> None:
    candidate.tickets.set(tickets)
    candidate.size = len(tickets)
    candidate.score = score
    candidate.updated_at = timezone.now()
    candidate.save(update_fields=["size", "score", "updated_at", *(extra or [])])


# --- candidate review ---------------------------------------------------------------------------
def _locked_open_candidate(candidate: RecurrenceCandidate) -> RecurrenceCandidate:
    # Two agents deciding the same candidate at once: the row lock makes the second one see the
    # first one's decision and refuse, so a candidate opens one problem at most.
    locked = RecurrenceCandidate.objects.select_for_update().get(pk=candidate.pk)
    if not locked.is_open:
        raise CandidateDecided(
            f"This candidate was already {locked.get_state_display().lower()}; nothing was changed."
        )
    return locked


@transaction.atomic
def do_promote_candidate(candidate: RecurrenceCandidate, *, actor: User) -> Problem:
    """Open a problem with the candidate's incidents (those still unlinked and not sensitive)."""
    check_can_manage(actor)
    candidate = _locked_open_candidate(candidate)
    tickets = list(
        candidate.tickets.filter(problem_link__isnull=True, sensitive=False).order_by("created_at", "id")
    )
    if not tickets:
        raise ValidationError({"candidate": "Its incidents are all linked to problems already."})
    problem = _open_detected_problem(candidate, tickets, actor=actor)
    candidate.decided_by = actor
    candidate.decided_at = timezone.now()
    candidate.save(update_fields=["decided_by", "decided_at"])
    return problem


@transaction.atomic
def do_dismiss_candidate(candidate: RecurrenceCandidate, *, actor: User, reason: str) -> RecurrenceCandidate:
    check_can_manage(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the candidate is dismissed."})
    if len(reason) > 500:
        raise ValidationError({"reason": "The reason is longer than 500 characters."})
    candidate = _locked_open_candidate(candidate)
    candidate.state = RecurrenceCandidate.State.DISMISSED
    candidate.dismissed_reason = reason
    candidate.dismissed_size = candidate.size
    candidate.decided_by = actor
    candidate.decided_at = candidate.updated_at = timezone.now()
    candidate.save(
        update_fields=[
            "state",
            "dismissed_reason",
            "dismissed_size",
            "decided_by",
            "decided_at",
            "updated_at",
        ]
    )
    AutomationEvent.objects.record(
        actor=actor,
        action="problem.candidate_dismissed",
        subject=candidate,
        before={"state": "open"},
        after={"state": "dismissed", "size": candidate.size},
        reason=reason,
    )
    return candidate


def problem_status_choices() -> list[tuple[str, str]]:
    return list(ProblemStatus.choices)
