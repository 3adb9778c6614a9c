"""Transparent keyword rules: what triage does before there is enough history to learn from.

Categories carry their own keywords (``Category.keywords``, edited in the admin); impact and
urgency come from short word lists below. Rule confidences are fixed and deliberately
modest (at most 0.7): they are not calibrated, so they stay under a sensible auto threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ai.triage.text import normalise, repair_mojibake

URGENCY_HIGH = (
    "urgent",
    "asap",
    "as soon as possible",
    "immediately",
    "emergency",
    "critical",
    "outage",
    "is down",
    "are down",
    "not working at all",
    "cannot work",
    "can't work",
    "cant work",
    "blocked",
    "production down",
    "right now",
    "urgence",
    "urgent",
    "immédiatement",
    "en panne",
    "bloqué",
    "bloquée",
    "critique",
    "ne fonctionne plus",
)
URGENCY_LOW = (
    "when possible",
    "when you have time",
    "no rush",
    "low priority",
    "whenever",
    "not urgent",
    "nice to have",
    "question",
    "how do i",
    "how to",
    "pas urgent",
    "quand possible",
    "quand vous pourrez",
)
IMPACT_HIGH = (
    "all users",
    "everyone",
    "everybody",
    "whole team",
    "entire",
    "whole site",
    "all staff",
    "company-wide",
    "company wide",
    "whole office",
    "all customers",
    "production",
    "tous les utilisateurs",
    "tout le monde",
    "toute l'équipe",
    "tout le site",
    "tous les clients",
)
IMPACT_LOW = (
    "only me",
    "just me",
    "my laptop",
    "my account",
    "my password",
    "my phone",
    "single user",
    "seulement moi",
    "mon ordinateur",
    "mon compte",
    "mon mot de passe",
)


@dataclass
class RuleMatch:
    value: str
    confidence: float
    terms: list[str] = field(default_factory=list)


def _prepare(title: str, description: str) -> str:
    return " " + normalise(repair_mojibake(f"{title} {description}")) + " "


def find_terms(text: str, terms: tuple[str, ...] | list[str]) -> list[str]:
    found = []
    for term in terms:
        term = term.strip().lower()
        if term and re.search(r"(?<!\w)" + re.escape(term) + r"(?!\w)", text) and term not in found:
            found.append(term)
    return found


def _confidence(hits: int) -> float:
    return {0: 0.34, 1: 0.5, 2: 0.6}.get(hits, 0.7)


def match_category(
    title: str, description: str, categories: list[tuple[str, str, list[str]]]
) -> RuleMatch | None:
    """``categories``: (value, name, keywords). The category with most keyword hits wins."""
    text = _prepare(title, description)
    best: RuleMatch | None = None
    for value, _name, keywords in categories:
        hits = find_terms(text, keywords)
        if hits and (best is None or len(hits) > len(best.terms)):
            best = RuleMatch(value, _confidence(len(hits)), hits)
    return best


def _level(text: str, high: tuple[str, ...], low: tuple[str, ...]) -> RuleMatch:
    high_hits, low_hits = find_terms(text, high), find_terms(text, low)
    if len(high_hits) > len(low_hits):
        return RuleMatch("high", _confidence(len(high_hits)), high_hits)
    if len(low_hits) > len(high_hits):
        return RuleMatch("low", _confidence(len(low_hits)), low_hits)
    return RuleMatch("medium", 0.4, [])


def match_urgency(title: str, description: str) -> RuleMatch:
    return _level(_prepare(title, description), URGENCY_HIGH, URGENCY_LOW)


def match_impact(title: str, description: str) -> RuleMatch:
    return _level(_prepare(title, description), IMPACT_HIGH, IMPACT_LOW)
