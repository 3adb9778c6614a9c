"""Quick fix: the most likely resolution steps for a ticket, from the best-matching known errors,
articles and resolved tickets the agent may see, with a confidence and the sources.

The raw score is a fixed rule: a known error with a workaround matching the ticket 0.8; else the
share of the similar resolved tickets that agree on one resolution (at most 0.75), raised to 0.6
when a published article matches; 0 when nothing does (no steps are then invented). The
confidence shown is that score through the active ``QuickFixCalibration`` (fitted on the
organisation's resolved tickets, ``ai/copilot/calibration.py``), or the raw score while none is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from ai.copilot import tools
from ai.copilot.models import QuickFixCalibration, QuickFixDecision, QuickFixOutcome
from ai.knowledge.replies import steps_in
from ai.knowledge.search import SearchInputError, hybrid_search
from itsm.models import User
from problems.actions import do_link_incident
from problems.models import Problem, ProblemStatus
from tickets.actions import check_can_change
from tickets.models import Ticket

MAX_STEPS = 6


@dataclass
class QuickFix:
    ticket: Ticket
    confidence: float
    steps: list[str] = field(default_factory=list)
    sources: list[tools.Citation] = field(default_factory=list)
    known_error: dict[str, Any] | None = None
    # The rule's score before calibration, and what gave the steps: known_error, tickets, article.
    raw: float = 0.0
    basis: str = ""
    calibration: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket.pk,
            "confidence": round(self.confidence, 2),
            "raw_score": round(self.raw, 2),
            "calibration": self.calibration,
            "steps": self.steps,
            "sources": [source.as_dict() for source in self.sources],
            "known_error": self.known_error,
        }

    @property
    def reply_text(self) -> str:
        return "\n".join(f"{number}. {step}" for number, step in enumerate(self.steps, 1))


def _split(text: str) -> list[str]:
    steps = steps_in(text)
    if steps:
        return steps[:MAX_STEPS]
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+|\n+", text) if part.strip()][:MAX_STEPS]


def _known_error(user: User, ticket: Ticket, *, use_links: bool = True) -> Problem | None:
    words = tools.keywords(f"{ticket.title} {ticket.description}")
    linked = (
        Problem.objects.visible_to(user).filter(links__ticket=ticket).exclude(workaround="").first()
        if use_links
        else None
    )
    if linked or not words:
        return linked
    candidates = (
        Problem.objects.visible_to(user).filter(status=ProblemStatus.KNOWN_ERROR).exclude(workaround="")
    )
    best, best_hits = None, 0
    for problem in candidates.order_by("-updated_at")[:200]:
        text = f"{problem.title} {problem.description}".lower()
        hits = sum(1 for word in words if word in text)
        if hits > best_hits:
            best, best_hits = problem, hits
    return best if best_hits >= 2 else None


def suggest(ticket: Ticket, *, user: User) -> QuickFix:
    """As ``user``: what they may see is all it reads; the confidence calibrated when it can be."""
    fix = raw_suggestion(ticket, user=user)
    calibration = QuickFixCalibration.objects.active().first()
    if calibration is not None and fix.steps:
        fix.confidence = calibration.calibrate(fix.raw, fix.basis)
        fix.calibration = calibration.version
    return fix


def raw_suggestion(ticket: Ticket, *, user: User, use_links: bool = True) -> QuickFix:
    """The fix and the rule's raw score. ``use_links=False`` ignores the problems the ticket is
    already linked to (calibration: a resolved ticket's own link would give its answer away)."""
    problem = _known_error(user, ticket, use_links=use_links)
    if problem is not None:
        return QuickFix(
            ticket,
            0.8,
            _split(problem.workaround),
            [tools.Citation("problem", problem.pk, f"{problem.number} {problem.title}")],
            {
                "id": problem.pk,
                "number": problem.number,
                "title": problem.title,
                "linked": problem.links.filter(ticket=ticket).exists(),
            },
            raw=0.8,
            basis="known_error",
        )
    similar = tools.similar_tickets(user, {"number": ticket.number}).data.get("similar", [])
    resolved = [row for row in similar if row["status"] in ("resolved", "closed") and row.get("resolution")]
    numbers = {row["number"] for row in resolved}
    by_number = {t.number: t for t in Ticket.objects.visible_to(user).filter(number__in=numbers)}
    votes: dict[str, list[Ticket]] = {}
    for row in resolved:
        if row["number"] in by_number:
            votes.setdefault(row["resolution"], []).append(by_number[row["number"]])
    steps: list[str] = []
    sources: list[tools.Citation] = []
    confidence = 0.0
    basis = ""
    if votes:
        resolution, agreeing = max(votes.items(), key=lambda item: len(item[1]))
        steps = _split(resolution)
        sources = [tools.ticket_citation(other) for other in agreeing[:3]]
        confidence = min(0.75, len(agreeing) / max(1, len(resolved)) * 0.75)
        basis = "tickets"
    try:
        hits = hybrid_search(
            user, f"{ticket.title}\n{ticket.description}"[:2000], k=2, sources=["article"]
        ).hits
    except SearchInputError:
        hits = []
    if hits:
        article = hits[0]
        if not steps:
            steps = _split(article.text)
            basis = "article"
        sources.append(tools.Citation("article", article.source_id, article.title))
        confidence = max(confidence, 0.6)
    confidence = confidence if steps else 0.0
    return QuickFix(ticket, confidence, steps, sources, raw=confidence, basis=basis if steps else "")


class QuickFixInputError(ValueError):
    pass


@transaction.atomic
def do_decide_quick_fix(ticket: Ticket, *, actor: User, outcome: str) -> QuickFixDecision:
    """Record what the agent did; ``linked`` links the known error through the normal action."""

    if outcome not in QuickFixOutcome.values:
        raise QuickFixInputError(f"outcome must be one of {', '.join(QuickFixOutcome.values)}.")
    check_can_change(ticket, actor)
    fix = suggest(ticket, user=actor)
    if outcome == QuickFixOutcome.LINKED:
        if fix.known_error is None:
            raise QuickFixInputError("No known error to link.")
        problem = Problem.objects.get(pk=fix.known_error["id"])
        if not fix.known_error["linked"]:
            do_link_incident(problem, ticket, actor=actor)
    return QuickFixDecision.objects.create(
        ticket=ticket,
        user=actor,
        outcome=outcome,
        confidence=fix.confidence,
        sources=[source.as_dict() for source in fix.sources],
    )
