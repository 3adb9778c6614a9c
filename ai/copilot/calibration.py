"""The quick fix's confidence, calibrated on the organisation's resolved tickets (as triage's is).

For each of the newest resolved tickets (``AI_QUICK_FIX_CALIBRATION_TICKETS``, sensitive ones
left out), the quick fix is computed as the agent who resolved it (else an admin) would have
seen it, from the *other* resolved tickets, the known errors and the articles — the ticket
itself is never a similar ticket, and the problem it is linked to counts only if its words
match, as for a new ticket. The fix was **right** when its best source matches how the ticket
was actually resolved: the known error the ticket is linked to, or steps whose words are
similar to the ticket's resolution (cosine of word counts ≥ ``MATCH_SIMILARITY``).

The map from the rule's raw score to the probability of being right is triage's
``TopLabelCalibrator`` (isotonic regression), one per kind of source (known error, agreeing
tickets, article) with enough rows of both outcomes, the pooled one for the others. Its figures are out of fold, as triage's: the
map is fitted on two thirds of the tickets and scored on the third it did not see (Brier
score, expected calibration error, a reliability table); then fitted on every ticket and
stored as a new active ``QuickFixCalibration``. ``manage.py ai_train`` and the nightly
training task refit it (``ai/triage/signals.py: models_trained``).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from sklearn.model_selection import KFold

from ai.copilot import quickfix, tools
from ai.copilot.models import QuickFixCalibration
from ai.triage.classifier import TopLabelCalibrator, expected_calibration_error
from itsm.models import User
from problems.models import ProblemIncident
from tickets.models import Ticket, TicketStatus

logger = logging.getLogger(__name__)

MATCH_SIMILARITY = 0.5
MIN_ROWS = 20
FOLDS = 3
RELIABILITY_BINS = 5


def _words(text: str) -> Counter[str]:
    return Counter(
        word
        for word in re.findall(r"[a-z0-9]+", text.lower())
        if len(word) > 2 and word not in tools.STOPWORDS
    )


def text_similarity(first: str, second: str) -> float:
    """Cosine similarity of the two texts' word counts (stop words and short words left out)."""
    a, b = _words(first), _words(second)
    if not a or not b:
        return 0.0
    dot = sum(count * b[word] for word, count in a.items())
    return dot / (math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values())))


def is_right(fix: quickfix.QuickFix, ticket: Ticket) -> bool:
    """Did the fix's best source match how ``ticket`` was actually resolved?"""
    if (
        fix.basis == "known_error"
        and fix.known_error is not None
        and ProblemIncident.objects.filter(ticket=ticket, problem_id=fix.known_error["id"]).exists()
    ):
        return True
    return text_similarity(" ".join(fix.steps), ticket.resolution) >= MATCH_SIMILARITY


@dataclass
class Observation:
    number: str
    raw: float
    right: bool
    basis: str


@dataclass
class CalibrationOutcome:
    observations: list[Observation] = field(default_factory=list)
    tickets: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    points: dict[str, list[list[float]]] = field(default_factory=dict)
    last_resolved_at: Any = None
    seconds: float = 0.0
    skipped: str = ""


def _resolved_tickets(limit: int) -> list[Ticket]:
    return list(
        Ticket.objects.filter(
            status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED],
            resolved_at__isnull=False,
            sensitive=False,
        )
        .exclude(resolution="")
        .select_related("assignee")
        .order_by("-resolved_at", "-id")[:limit]
    )


def observe(tickets: list[Ticket]) -> list[Observation]:
    """Each ticket's quick fix from the others, and whether it was right (tickets without one are left out)."""
    admin = User.objects.filter(is_active=True, role="admin").order_by("pk").first()
    observations = []
    for ticket in tickets:
        reader = ticket.assignee if ticket.assignee is not None and ticket.assignee.is_agent else admin
        if reader is None:
            continue
        fix = quickfix.raw_suggestion(ticket, user=reader, use_links=False)
        if not fix.steps:
            continue
        observations.append(Observation(ticket.number, fix.raw, is_right(fix, ticket), fix.basis))
    return observations


def brier(confidence: np.ndarray, right: np.ndarray) -> float:
    return float(np.mean((confidence - right) ** 2)) if len(confidence) else 0.0


def reliability(
    confidence: np.ndarray, right: np.ndarray, bins: int = RELIABILITY_BINS
) -> list[dict[str, Any]]:
    """Per equal-width confidence bin: rows, mean stated confidence, observed share right."""
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            table.append(
                {
                    "from": round(b / bins, 2),
                    "to": round((b + 1) / bins, 2),
                    "rows": int(mask.sum()),
                    "confidence": round(float(confidence[mask].mean()), 3),
                    "accuracy": round(float(right[mask].mean()), 3),
                }
            )
    return table


def _fit_maps(raw: np.ndarray, right: np.ndarray, bases: np.ndarray) -> dict[str, TopLabelCalibrator]:
    """One isotonic map per source kind that has enough rows of both outcomes, and ``all`` pooled.

    The rule ranks a known error above agreeing tickets; whether it is right more often is for
    the organisation's history to say, so each kind gets its own map when it can."""
    maps = {"all": TopLabelCalibrator().fit(raw, right)}
    for basis in sorted(set(bases.tolist())):
        mask = bases == basis
        calibrator = TopLabelCalibrator().fit(raw[mask], right[mask])
        if calibrator.isotonic is not None:
            maps[basis] = calibrator
    return maps


def _apply(maps: dict[str, TopLabelCalibrator], raw: np.ndarray, bases: np.ndarray) -> np.ndarray:
    out = np.empty(len(raw))
    for i, (score, basis) in enumerate(zip(raw, bases, strict=True)):
        out[i] = maps.get(basis, maps["all"]).transform(np.array([score]))[0]
    return out


def _knots(calibrator: TopLabelCalibrator) -> list[list[float]]:
    if calibrator.isotonic is None:
        return []
    isotonic = calibrator.isotonic
    return [
        [round(float(x), 6), round(float(y), 6)]
        for x, y in zip(isotonic.X_thresholds_, isotonic.y_thresholds_, strict=True)
    ]


def fit(observations: list[Observation]) -> tuple[dict[str, list[list[float]]], dict[str, Any]]:
    """The isotonic maps' knots (fitted on every observation) and their out-of-fold figures."""
    raw = np.array([row.raw for row in observations], dtype=float)
    right = np.array([row.right for row in observations], dtype=float)
    bases = np.array([row.basis for row in observations], dtype=object)
    held_out = raw.copy()
    folds = KFold(n_splits=min(FOLDS, len(raw)), shuffle=True, random_state=0)
    for fit_index, held_index in folds.split(raw):
        maps = _fit_maps(raw[fit_index], right[fit_index], bases[fit_index])
        held_out[held_index] = _apply(maps, raw[held_index], bases[held_index])
    points = {basis: _knots(calibrator) for basis, calibrator in _fit_maps(raw, right, bases).items()}
    metrics = {
        "rows": len(observations),
        "accuracy": round(float(right.mean()), 4),
        "brier_raw": round(brier(raw, right), 4),
        "brier": round(brier(held_out, right), 4),
        "ece_raw": round(expected_calibration_error(raw, right), 4),
        "ece": round(expected_calibration_error(held_out, right), 4),
        "reliability": reliability(held_out, right),
        "by_basis": {
            basis: {
                "rows": int((bases == basis).sum()),
                "accuracy": round(float(right[bases == basis].mean()), 4),
                "own_map": bool(points.get(basis)),
            }
            for basis in sorted(set(bases.tolist()))
        },
        "match_similarity": MATCH_SIMILARITY,
    }
    return points, metrics


def calibrate(limit: int | None = None) -> CalibrationOutcome:
    started = time.perf_counter()
    limit = limit or settings.AI_QUICK_FIX_CALIBRATION_TICKETS
    tickets = _resolved_tickets(limit)
    outcome = CalibrationOutcome(tickets=len(tickets))
    outcome.last_resolved_at = tickets[0].resolved_at if tickets else None
    outcome.observations = observe(tickets)
    right = {row.right for row in outcome.observations}
    if len(outcome.observations) < MIN_ROWS:
        outcome.skipped = f"{len(outcome.observations)} resolved tickets with a quick fix, {MIN_ROWS} needed"
    elif len(right) < 2:
        outcome.skipped = "every quick fix was right, or every one wrong: nothing to calibrate against"
    else:
        outcome.points, outcome.metrics = fit(outcome.observations)
    outcome.seconds = time.perf_counter() - started
    return outcome


def do_calibrate_quick_fix(
    *, force: bool = False, limit: int | None = None
) -> tuple[QuickFixCalibration | None, CalibrationOutcome | None]:
    """Fit on the resolved tickets and activate the new calibration.

    Without ``force`` nothing happens when no ticket was resolved since the active calibration.
    Returns (calibration, outcome); calibration is None when there was too little to fit on.
    """
    active = QuickFixCalibration.objects.active().first()
    if (
        not force
        and active is not None
        and active.last_ticket_resolved_at is not None
        and not Ticket.objects.resolved_after(active.last_ticket_resolved_at).exists()
    ):
        return None, None
    # The fit reads for a while (a quick fix per ticket); no lock is held meanwhile.
    outcome = calibrate(limit)
    if outcome.skipped:
        logger.info("quick fix calibration skipped: %s", outcome.skipped)
        return None, outcome
    with transaction.atomic():
        # One writer at a time picks the next version and swaps the active row.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('copilot-quick-fix-calibration'))")
        version = (QuickFixCalibration.objects.aggregate(top=Max("version"))["top"] or 0) + 1
        QuickFixCalibration.objects.active().update(is_active=False)
        calibration = QuickFixCalibration.objects.create(
            version=version,
            points=outcome.points,
            rows=len(outcome.observations),
            metrics=outcome.metrics,
            last_ticket_resolved_at=outcome.last_resolved_at,
            seconds=round(outcome.seconds, 2),
            is_active=True,
        )
    return calibration, outcome


def on_training_run(sender: Any, force: bool = False, limit: int | None = None, **kwargs: Any) -> str:
    """Receiver of ``ai.triage.signals.training_run``: refit, and say what happened in one line."""
    calibration, outcome = do_calibrate_quick_fix(force=force, limit=limit)
    if outcome is None:
        return "Quick fix calibration: no ticket resolved since the active one, kept."
    if calibration is None:
        return f"Quick fix calibration: kept the raw scores ({outcome.skipped})."
    figures = calibration.metrics
    return (
        f"Quick fix calibration v{calibration.version}: {calibration.rows} resolved tickets, "
        f"{figures['accuracy']:.0%} right; Brier {figures['brier_raw']:.3f} raw → {figures['brier']:.3f} "
        f"calibrated, ECE {figures['ece_raw']:.3f} → {figures['ece']:.3f} (out of fold)."
    )
