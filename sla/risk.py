"""Advisory breach-risk scoring of running resolution clocks. It never escalates: rules decide.

Two scorers share one feature vector:

- a logistic regression trained on the organisation's own finished clocks (``train_model``),
  kept in ``SLARiskModel`` as plain numbers, so a score is explained term by term;
- a transparent heuristic when the history is too small (fewer than ``SLA_RISK_MIN_SAMPLES``
  training rows, or one class missing), whose reasoning lists the same terms.

Training rows are snapshots of finished clocks at 25 %, 50 % and 75 % of their target, taken only
while the clock was still running; the label is whether the clock went on to breach.
"""

from __future__ import annotations

import logging
import math
import uuid
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from sla import business_time
from sla.models import (
    Calendar,
    ClockSource,
    Metric,
    RiskBand,
    SLARiskEvaluation,
    SLARiskModel,
    TicketSLA,
    TierMultiplier,
)
from tickets.models import Priority, Ticket, TicketType

logger = logging.getLogger(__name__)

HEURISTIC_VERSION = "heuristic-v1"
PRIORITIES = [Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW]
FEATURES = [
    "elapsed",
    "elapsed_squared",
    "no_response",
    "unassigned",
    "reopens",
    "team_load",
    "tier_factor",
    "incident",
    "category_rate",
    *(f"priority_{p}" for p in PRIORITIES),
]
SNAPSHOTS = (0.25, 0.5, 0.75)
RAISE = {Priority.LOW: Priority.MEDIUM, Priority.MEDIUM: Priority.HIGH, Priority.HIGH: Priority.CRITICAL}
TEAM_LOAD_SCALE = 25.0  # open tickets per team that count as "a full queue" (feature value 1.0)


@dataclass
class Snapshot:
    """What is known about a running clock at one instant."""

    priority: str
    ticket_type: str
    category_id: int | None
    tier_factor: float
    elapsed: float  # share of the target used, in working time
    responded: bool
    assigned: bool
    reopens: int
    team_load: int

    def vector(self, category_rates: dict[str, float], default_rate: float) -> list[float]:
        elapsed = min(max(self.elapsed, 0.0), 3.0)
        values = {
            "elapsed": elapsed,
            "elapsed_squared": elapsed * elapsed,
            "no_response": 0.0 if self.responded else 1.0,
            "unassigned": 0.0 if self.assigned else 1.0,
            "reopens": float(min(self.reopens, 5)),
            "team_load": min(self.team_load / TEAM_LOAD_SCALE, 4.0),
            "tier_factor": self.tier_factor,
            "incident": 1.0 if self.ticket_type == TicketType.INCIDENT else 0.0,
            "category_rate": category_rates.get(str(self.category_id), default_rate),
        }
        for priority in PRIORITIES:
            values[f"priority_{priority}"] = 1.0 if self.priority == priority else 0.0
        return [values[name] for name in FEATURES]


@dataclass
class Assessment:
    score: float
    band: str
    confidence: float
    suggested_priority: str
    reasoning: str
    model_version: str


def band_of(score: float) -> str:
    if score >= 0.7:
        return RiskBand.HIGH
    if score >= 0.4:
        return RiskBand.MEDIUM
    return RiskBand.LOW


def suggested_priority(current: str, band: str) -> str:
    return RAISE.get(current, current) if band == RiskBand.HIGH else current


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(value, 50.0), -50.0)))


# --- scorers ----------------------------------------------------------------------------------------
def heuristic(snapshot: Snapshot) -> Assessment:
    """Mostly how much of the target is gone, nudged by the signals agents know matter."""
    terms: list[tuple[float, str]] = [
        (
            _sigmoid(8 * (snapshot.elapsed - 0.7)) * 0.85,
            f"{snapshot.elapsed:.0%} of the resolution target used",
        )
    ]
    if not snapshot.responded and snapshot.elapsed > 0.25:
        terms.append((0.08, "no first response yet"))
    if not snapshot.assigned:
        terms.append((0.07, "nobody is assigned"))
    if snapshot.reopens:
        terms.append((min(0.05 * snapshot.reopens, 0.15), f"reopened {snapshot.reopens} time(s)"))
    if snapshot.team_load > TEAM_LOAD_SCALE:
        terms.append((0.05, f"the team has {snapshot.team_load} open tickets"))
    score = min(max(sum(value for value, _text in terms), 0.0), 1.0)
    band = band_of(score)
    # The share of the target used always leads; the other signals follow by weight.
    reasons = [terms[0][1]] + [text for _value, text in sorted(terms[1:], key=lambda term: -term[0])]
    return Assessment(
        score=round(score, 4),
        band=band,
        confidence=0.5,
        suggested_priority=suggested_priority(snapshot.priority, band),
        reasoning="Heuristic (little history): " + "; ".join(reasons) + ".",
        model_version=HEURISTIC_VERSION,
    )


READABLE = {
    "elapsed": "share of the target used",
    "elapsed_squared": "share of the target used (curve)",
    "no_response": "no first response yet",
    "unassigned": "nobody is assigned",
    "reopens": "reopens",
    "team_load": "team queue load",
    "tier_factor": "customer tier",
    "incident": "incident (not a request)",
    "category_rate": "category's breach history",
    **{f"priority_{p}": f"{p} priority" for p in PRIORITIES},
}


def model_score(model: SLARiskModel, snapshot: Snapshot) -> Assessment:
    rates = model.metrics.get("category_rates", {})
    vector = snapshot.vector(rates, model.metrics.get("default_rate", 0.0))
    contributions = [
        (weight * value, name)
        for weight, value, name in zip(model.coefficients, vector, FEATURES, strict=True)
    ]
    score = _sigmoid(model.intercept + sum(value for value, _name in contributions))
    band = band_of(score)
    top = sorted((c for c in contributions if abs(c[0]) > 0.05), key=lambda c: -abs(c[0]))[:3]
    parts = [f"{READABLE[name]} {'raises' if value > 0 else 'lowers'} the risk" for value, name in top]
    # Confidence: how far from a coin toss, scaled by how much history the model learnt from.
    confidence = min(1.0, 0.5 + abs(score - 0.5)) * min(1.0, 0.6 + model.samples / 5000)
    return Assessment(
        score=round(score, 4),
        band=band,
        confidence=round(confidence, 3),
        suggested_priority=suggested_priority(snapshot.priority, band),
        reasoning=(f"{snapshot.elapsed:.0%} of the resolution target used; " + "; ".join(parts) + "."),
        model_version=model.version,
    )


def current_model() -> SLARiskModel | None:
    return SLARiskModel.objects.order_by("-trained_at", "-pk").first()


def assess(snapshot: Snapshot, model: SLARiskModel | None) -> Assessment:
    return model_score(model, snapshot) if model is not None else heuristic(snapshot)


# --- live evaluation (the sweep's risk pass) ----------------------------------------------------------
CLAIM_RISK = f"""
WITH due AS (
    SELECT id FROM {TicketSLA._meta.db_table}
    WHERE stopped_at IS NULL AND metric = 'resolution'
      AND (risk_evaluated_at IS NULL OR risk_evaluated_at <= %(stale)s)
    ORDER BY risk_evaluated_at NULLS FIRST, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE {TicketSLA._meta.db_table} AS clock SET risk_evaluated_at = %(now)s
FROM due WHERE clock.id = due.id
RETURNING clock.id
"""  # noqa: S608 - table name from the model


def count_due_evaluations(*, now: datetime, limit: int) -> int:
    stale = now - timedelta(minutes=settings.SLA_RISK_INTERVAL_MINUTES)

    return min(
        TicketSLA.objects.filter(stopped_at__isnull=True, metric=Metric.RESOLUTION)
        .filter(Q(risk_evaluated_at__isnull=True) | Q(risk_evaluated_at__lte=stale))
        .count(),
        limit,
    )


def evaluate_due_clocks(*, now: datetime, limit: int) -> int:
    """Record an evaluation for running resolution clocks not evaluated in the last interval."""
    stale = now - timedelta(minutes=settings.SLA_RISK_INTERVAL_MINUTES)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(CLAIM_RISK, {"stale": stale, "now": now, "limit": limit})
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return 0
        clocks = list(TicketSLA.objects.filter(pk__in=ids).select_related("ticket", "ticket__organisation"))
        evaluations = evaluate_clocks(clocks, now=now)
        SLARiskEvaluation.objects.bulk_create(evaluations, batch_size=1000)
    return len(evaluations)


def evaluate_clocks(clocks: list[TicketSLA], *, now: datetime) -> list[SLARiskEvaluation]:
    model = current_model()
    mode = settings.SLA_RISK_MODE
    schedules = _schedules({clock.calendar_id for clock in clocks})
    team_ids = {clock.ticket.team_id for clock in clocks if clock.ticket.team_id}
    loads = (
        dict(
            Ticket.objects.open()
            .filter(team_id__in=team_ids)
            .values("team_id")
            .annotate(n=Count("id"))
            .values_list("team_id", "n")
        )
        if team_ids
        else {}
    )
    factors = _tier_factors()
    evaluations = []
    for clock in clocks:
        ticket = clock.ticket
        snapshot = Snapshot(
            priority=ticket.priority,
            ticket_type=ticket.type,
            category_id=ticket.category_id,
            tier_factor=factors.get(ticket.organisation.tier if ticket.organisation_id else "", 1.0),
            elapsed=clock.elapsed_fraction(now, schedules.get(clock.calendar_id) or _continuous()),
            responded=ticket.first_response_at is not None,
            assigned=ticket.assignee_id is not None,
            reopens=ticket.reopen_count,
            team_load=loads.get(ticket.team_id, 0),
        )
        result = assess(snapshot, model)
        evaluations.append(
            SLARiskEvaluation(
                ticket=ticket,
                clock=clock,
                score=result.score,
                band=result.band,
                confidence=result.confidence,
                suggested_priority=result.suggested_priority,
                reasoning=result.reasoning[:2000],
                model_version=result.model_version,
                mode=mode,
                created_at=now,
                features={
                    name: round(value, 4)
                    for name, value in zip(FEATURES, snapshot.vector({}, 0.0), strict=True)
                }
                | {"team_load_count": snapshot.team_load},
            )
        )
    return evaluations


def _continuous() -> business_time.Schedule:
    return business_time.Schedule.around_the_clock()


def _schedules(calendar_ids: set[int | None]) -> dict[int, business_time.Schedule]:
    ids = {pk for pk in calendar_ids if pk}
    return {calendar.pk: calendar.schedule() for calendar in Calendar.objects.with_hours().filter(pk__in=ids)}


def _tier_factors() -> dict[str, float]:
    factors = {tier: float(value) for tier, value in TierMultiplier.DEFAULTS.items()}
    factors.update(
        {tier: float(value) for tier, value in TierMultiplier.objects.values_list("tier", "multiplier")}
    )
    return factors


# --- training -------------------------------------------------------------------------------------------
@dataclass
class TrainingResult:
    trained: bool
    samples: int
    positives: int
    message: str
    model: SLARiskModel | None = None


def training_rows(*, limit: int = 20_000) -> tuple[list[Snapshot], list[int]]:
    """Snapshots of finished local resolution clocks, with whether each went on to breach."""
    clocks = list(
        TicketSLA.objects.filter(
            metric=Metric.RESOLUTION, source=ClockSource.LOCAL, stopped_at__isnull=False, target_seconds__gt=0
        )
        .select_related("ticket", "ticket__organisation")
        .order_by("-stopped_at")[:limit]
    )
    schedules = _schedules({clock.calendar_id for clock in clocks})
    factors = _tier_factors()
    # Team load, approximated: the team's tickets opened in the three days before each snapshot.
    created_by_team: dict[int, list[datetime]] = defaultdict(list)
    team_ids = {clock.ticket.team_id for clock in clocks if clock.ticket.team_id}
    if team_ids and clocks:
        oldest = min(clock.started_at for clock in clocks) - timedelta(days=3)
        for team_id, created in Ticket.objects.filter(
            team_id__in=team_ids, created_at__gte=oldest
        ).values_list("team_id", "created_at"):
            created_by_team[team_id].append(created)
        for values in created_by_team.values():
            values.sort()
    rows: list[Snapshot] = []
    labels: list[int] = []
    for clock in clocks:
        ticket = clock.ticket
        schedule = schedules.get(clock.calendar_id) or _continuous()
        for fraction in SNAPSHOTS:
            at = business_time.add(
                schedule, clock.started_at, clock.target_seconds * fraction + clock.paused_business_seconds
            )
            if at >= clock.stopped_at:
                continue  # already resolved by then: not a situation the live scorer meets
            times = created_by_team.get(ticket.team_id, [])
            load = bisect_right(times, at) - bisect_left(times, at - timedelta(days=3))
            rows.append(
                Snapshot(
                    priority=ticket.priority,
                    ticket_type=ticket.type,
                    category_id=ticket.category_id,
                    tier_factor=factors.get(ticket.organisation.tier if ticket.organisation_id else "", 1.0),
                    elapsed=fraction,
                    responded=ticket.first_response_at is not None and ticket.first_response_at <= at,
                    assigned=ticket.assignee_id is not None,
                    reopens=ticket.reopen_count,
                    team_load=load,
                )
            )
            labels.append(1 if clock.breached_at is not None else 0)
    return rows, labels


def train_model(*, now: datetime | None = None, min_samples: int | None = None) -> TrainingResult:
    """Fit a logistic regression on the history; keep it only if the history is large enough."""
    # scikit-learn loads in about a second: only the (nightly) training pays for it.
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.metrics import brier_score_loss, roc_auc_score  # noqa: PLC0415
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    now = now or timezone.now()
    min_samples = settings.SLA_RISK_MIN_SAMPLES if min_samples is None else min_samples
    rows, labels = training_rows()
    counts = Counter(labels)
    positives, samples = counts.get(1, 0), len(labels)
    if samples < min_samples or positives < 5 or samples - positives < 5:
        return TrainingResult(
            False,
            samples,
            positives,
            f"Not enough history to train ({samples} snapshots, {positives} breaches; need {min_samples} "
            "snapshots with at least 5 of each outcome): the heuristic stays in use.",
        )
    # Category breach rates, smoothed towards the overall rate (so rare categories say little).
    overall = positives / samples
    per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, label in zip(rows, labels, strict=True):
        per_category[str(row.category_id)][0] += label
        per_category[str(row.category_id)][1] += 1
    rates = {key: (hits + 10 * overall) / (total + 10) for key, (hits, total) in per_category.items()}
    matrix = [row.vector(rates, overall) for row in rows]
    train_x, test_x, train_y, test_y = train_test_split(
        matrix, labels, test_size=0.2, random_state=7, stratify=labels
    )
    classifier = LogisticRegression(max_iter=2000, C=1.0)
    classifier.fit(train_x, train_y)
    probabilities = classifier.predict_proba(test_x)[:, 1]
    metrics = {
        "auc": round(float(roc_auc_score(test_y, probabilities)), 4) if len(set(test_y)) > 1 else None,
        "brier": round(float(brier_score_loss(test_y, probabilities)), 4),
        "holdout": len(test_y),
        "category_rates": {key: round(value, 4) for key, value in rates.items()},
        "default_rate": round(overall, 4),
    }
    classifier.fit(matrix, labels)  # the kept model learns from everything
    model = SLARiskModel.objects.create(
        version=f"logreg-{now:%Y%m%d%H%M%S}-{samples}-{uuid.uuid4().hex[:6]}",
        feature_names=FEATURES,
        coefficients=[round(float(value), 6) for value in classifier.coef_[0]],
        intercept=round(float(classifier.intercept_[0]), 6),
        samples=samples,
        positives=positives,
        metrics=metrics,
        trained_at=now,
    )
    return TrainingResult(
        True, samples, positives, f"Trained {model.version} (holdout AUC {metrics['auc']}).", model
    )
