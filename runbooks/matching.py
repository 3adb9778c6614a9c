"""Which runbooks fit a ticket, how sure we are, and why.

Each current (published, active) runbook is scored on what its criteria share with the
ticket: the category (the ticket's, or the one triage predicted), keywords in the title and
description, the types of the ticket's affected items, the service, and how often the runbook
already resolved tickets of the same category. Other apps add evidence through
``register_evidence`` (``ai`` can add embedding similarity to tickets the runbook resolved);
without them the rest still works.

The score becomes a confidence with ``1 - exp(-score / 2)``: one strong signal (category or
item type) gives about 0.5–0.6, two agreeing ones about 0.85, three or more above 0.9. This
mapping is fixed (documented in docs/runbooks.md), not fitted to outcomes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q

from runbooks.models import ExecutionStatus, RunbookExecution, RunbookVersion

if TYPE_CHECKING:
    from cmdb.models import ConfigurationItem
    from tickets.models import Ticket

WEIGHTS = {
    "category": 2.0,
    "keyword": 1.0,
    "keyword_more": 0.5,
    "item_type": 1.5,
    "service": 1.5,
    "history": 0.5,
}
KEYWORD_CAP = 2.0


@dataclass
class Match:
    version: RunbookVersion
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    item: ConfigurationItem | None = None
    blocked: str = ""  # why it cannot run here (environment), or ""

    @property
    def runbook(self) -> Any:
        return self.version.runbook

    @property
    def confidence(self) -> float:
        return round(1 - math.exp(-self.score / 2), 3)

    def add(self, weight: float, reason: str) -> None:
        self.score += weight
        self.reasons.append(reason)


# Extra evidence: fn(ticket, matches) adds to each Match with ``match.add(weight, reason)``.
Evidence = Callable[["Ticket", list[Match]], None]
_evidence: dict[str, Evidence] = {}


def register_evidence(name: str, function: Evidence) -> None:
    _evidence[name] = function


def unregister_evidence(name: str) -> None:
    _evidence.pop(name, None)


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def affected_items(ticket: Ticket) -> list[ConfigurationItem]:
    return [link.item for link in ticket.item_links.select_related("item").order_by("linked_at", "id")]


def item_for(version: RunbookVersion, items: list[ConfigurationItem]) -> ConfigurationItem | None:
    """The ticket's item the runbook acts on: the first of a type it names (any, if it names none)."""
    types = version.criteria.item_types
    for item in items:
        if not types or item.type in types:
            return item
    return None


def triage_category(ticket: Ticket) -> str:
    """The category triage predicted for the ticket (``ai.triage``), lower-case, or ""."""
    results = getattr(ticket, "triage_results", None)
    if results is None:
        return ""
    label = results.filter(field="category").values_list("predicted_label", flat=True).first()
    return (label or "").strip().lower()


def match_ticket(ticket: Ticket, *, versions: list[RunbookVersion] | None = None) -> list[Match]:
    """Runbooks that fit ``ticket``, best first (only those with some evidence)."""
    if versions is None:
        # The steps (the bulk of a version's JSON) are not needed to match: read them only when run.
        versions = list(RunbookVersion.objects.current().select_related("runbook").defer("steps"))
    if not versions:
        return []
    items = affected_items(ticket)
    text = f"{ticket.title}\n{ticket.description}".lower()
    category = ticket.category.name.lower() if ticket.category_id else ""
    predicted = "" if category else triage_category(ticket)
    service = (ticket.service or "").strip().lower()
    history: dict[int, int] = {}
    if ticket.category_id:
        history = dict(
            RunbookExecution.objects.filter(
                status=ExecutionStatus.SUCCEEDED, ticket__category_id=ticket.category_id
            )
            .exclude(ticket=ticket)
            .values_list("runbook_id")
            .annotate(count=Count("id", filter=Q(status=ExecutionStatus.SUCCEEDED)))
        )
    matches = []
    for version in versions:
        criteria = version.criteria
        match = Match(version=version, item=item_for(version, items))
        if category and category in criteria.categories:
            match.add(WEIGHTS["category"], f"category “{ticket.category.name}”")
        elif predicted and predicted in criteria.categories:
            match.add(WEIGHTS["category"] * 0.75, f"triage predicts category “{predicted}”")
        found = [word for word in criteria.keywords if _has_word(text, word)]
        if found:
            weight = min(WEIGHTS["keyword"] + WEIGHTS["keyword_more"] * (len(found) - 1), KEYWORD_CAP)
            match.add(weight, "keywords: " + ", ".join(found))
        typed = [item for item in items if item.type in criteria.item_types]
        if typed:
            match.add(
                WEIGHTS["item_type"],
                "affected item "
                + ", ".join(f"{item.name} ({item.get_type_display()})" for item in typed[:3]),
            )
        names = {item.name.lower() for item in items}
        services = [name for name in criteria.services if name == service or name in names]
        if services:
            match.add(WEIGHTS["service"], "service " + ", ".join(services))
        if history.get(version.runbook_id):
            count = history[version.runbook_id]
            match.add(WEIGHTS["history"], f"resolved {count} ticket(s) of this category before")
        if match.item is not None and not version.is_allowed_in(match.item.environment):
            match.blocked = f"not allowed in {match.item.get_environment_display()}"
        elif match.item is None and version.allowed_environments:
            match.blocked = "needs an affected item in an allowed environment"
        matches.append(match)
    for function in _evidence.values():
        function(ticket, matches)
    found_matches = [match for match in matches if match.score > 0]
    found_matches.sort(key=lambda match: (-match.score, match.runbook.name))
    return found_matches
