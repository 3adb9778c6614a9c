"""Local assistance on a problem: what its incidents have in common, and similar past problems
with their root causes and fixes. Suggestions only: nothing is written to the problem unless
an agent copies it into the form. Computed from the incidents the reader may see (a sensitive
incident of another team never shapes what they read).

An LLM may add a written analysis (likely root cause, citing the incidents and past problems it
rests on) when a writer is registered: the ``ai`` app registers one from its ``ready()``
(``register_writer``), this module imports no AI. A writer that has nothing grounded to say, or
fails, returns None and the local suggestions stand alone.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import ExtractHour
from django.utils import translation

from cmdb.models import TicketItem
from problems.models import Problem, ProblemStatus
from tickets.models import Ticket

if TYPE_CHECKING:
    from itsm.models import User

logger = logging.getLogger(__name__)

WORD = re.compile(r"[a-zà-ÿ0-9][a-zà-ÿ0-9\-]{2,}")
STOP = {
    "the", "and", "for", "with", "since", "this", "that", "from", "have", "has", "not", "are", "was",
    "again", "every", "when", "can", "cannot", "our", "your", "all", "les", "des", "une", "pour", "dans",
}  # fmt: skip


@dataclass
class Factor:
    name: str  # "category", "service", "item", "hour", "word"
    value: str
    share: float  # of the incidents considered
    count: int


@dataclass
class PastProblem:
    number: str
    title: str
    status: str
    root_cause: str
    fix: str
    workaround: str
    similarity: float


@dataclass
class Citation:
    """A source the written analysis rests on: an incident or a past problem, by its number."""

    number: str
    kind: str  # "incident" | "problem"
    title: str
    url: str


@dataclass
class Written:
    """What a writer (an LLM) adds: its analysis, the sources it cited, the model."""

    analysis: str
    citations: list[Citation]
    model: str = ""


@dataclass
class Suggestions:
    incidents: int
    factors: list[Factor] = field(default_factory=list)
    similar_problems: list[PastProblem] = field(default_factory=list)
    source: str = "local"
    label: str = "Suggestions computed from the linked incidents; check before using them."
    # With a writer: its analysis (likely root cause), citing ``citations`` as [INC-…]/[PRB-…].
    analysis: str = ""
    citations: list[Citation] = field(default_factory=list)
    model: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# (problem, local suggestions, the incidents the reader may see) → Written, or None.
Writer = Callable[[Problem, Suggestions, list[Ticket]], Written | None]
_writer: Writer | None = None


def register_writer(writer: Writer) -> None:
    global _writer
    _writer = writer


def unregister_writer() -> None:
    global _writer
    _writer = None


def _analysis_key(problem: Problem, result: Suggestions, incidents: list[Ticket]) -> str:
    """What the writer is given, as a cache key: the problem as it is, the local suggestions,
    each incident the reader may see and its last change, and the language."""
    given = (
        problem.pk,
        problem.updated_at.isoformat(),
        result.as_dict(),
        [(ticket.pk, ticket.updated_at.isoformat()) for ticket in incidents],
        translation.get_language(),
    )
    return f"problems:analysis:{hashlib.sha256(repr(given).encode()).hexdigest()}"


def _written(problem: Problem, result: Suggestions, incidents: list[Ticket]) -> None:
    """The writer's analysis, asked once for the same inputs: a language model takes seconds
    and costs money, and a problem page is read far more often than its incidents change. An
    analysis is kept in the shared cache for ``PROBLEM_ANALYSIS_CACHE_SECONDS``; no analysis (the
    model down, or nothing grounded to say) is not kept: the next view asks again."""
    if _writer is None or not (incidents or result.similar_problems):
        return
    key = _analysis_key(problem, result, incidents)
    try:
        kept = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache that is down costs an answer, not the page
        logger.warning("problem %s: the analysis cache is unavailable", problem.pk, exc_info=True)
        kept = None
    if kept is not None:
        written = kept
    else:
        try:
            written = _writer(problem, result, incidents)
        except Exception:  # an assistant must never break the problem page: the local ones stand
            logger.exception("problem %s: the suggestion writer failed; local suggestions only", problem.pk)
            return
        if written is not None:
            try:
                cache.set(key, written, timeout=settings.PROBLEM_ANALYSIS_CACHE_SECONDS)
            except Exception:  # noqa: BLE001 - as above
                logger.warning("problem %s: the analysis cache is unavailable", problem.pk, exc_info=True)
    if written is None or not written.analysis.strip() or not written.citations:
        return
    result.analysis = written.analysis.strip()
    result.citations = written.citations
    result.model = written.model
    result.source = "llm"
    result.label = (
        "A language model's analysis of the linked incidents and past problems, with the sources it "
        "cites; a suggestion, check it before using it."
    )


def _words(text: str) -> set[str]:
    return {word for word in WORD.findall(text.lower()) if word not in STOP}


def suggestions_for(problem: Problem, user: User, *, limit: int = 5) -> Suggestions:
    """A bounded number of queries whatever the number of incidents (at most 500 read), plus
    the registered writer's analysis when there is one."""
    incidents = list(
        Ticket.objects.visible_to(user)
        .filter(problem_link__problem=problem)
        .select_related("category")
        .order_by("-created_at")[:500]
    )
    total = len(incidents)
    result = Suggestions(incidents=total)
    if total:
        factors: list[Factor] = []
        for name, values in (
            ("category", [t.category.name for t in incidents if t.category is not None]),
            ("service", [t.service for t in incidents if t.service]),
        ):
            factors += [
                Factor(name, value, count / total, count) for value, count in Counter(values).most_common(2)
            ]
        items = (
            TicketItem.objects.filter(ticket__in=[t.pk for t in incidents])
            .values("item__name")
            .annotate(n=Count("ticket", distinct=True))
            .order_by("-n", "item__name")[:3]
        )
        factors += [Factor("item", row["item__name"], row["n"] / total, row["n"]) for row in items]
        hours = (
            Ticket.objects.filter(pk__in=[t.pk for t in incidents])
            .annotate(hour=ExtractHour("created_at"))
            .values("hour")
            .annotate(n=Count("id"))
            .order_by("-n", "hour")[:1]
        )
        factors += [
            Factor("hour", f"{row['hour']:02d}:00", row["n"] / total, row["n"])
            for row in hours
            if row["n"] > 1
        ]
        # Words most of the incidents share and that are rarer among the other recent incidents.
        mine = Counter(word for t in incidents for word in _words(f"{t.title} {t.description[:500]}"))
        others = list(
            Ticket.objects.filter(type="incident", sensitive=False)
            .exclude(pk__in=[t.pk for t in incidents])
            .order_by("-created_at")
            .values_list("title", flat=True)[:500]
        )
        background = Counter(word for title in others for word in _words(title))
        scored = sorted(
            ((count / total) - (background[word] / max(len(others), 1)), word, count)
            for word, count in mine.items()
            if count / total >= 0.5
        )
        factors += [
            Factor("word", word, count / total, count) for _score, word, count in reversed(scored[-3:])
        ]
        result.factors = [factor for factor in factors if factor.share >= 0.5][: limit * 2]
    past = (
        Problem.objects.visible_to(user)
        .exclude(pk=problem.pk)
        .filter(status__in=[ProblemStatus.KNOWN_ERROR, ProblemStatus.RESOLVED, ProblemStatus.CLOSED])
        .exclude(root_cause="", fix="", workaround="")
        .resembling(problem.title, threshold=0.3)[:limit]
    )
    result.similar_problems = [
        PastProblem(p.number, p.title, p.status, p.root_cause, p.fix, p.workaround, round(p.resemblance, 3))
        for p in past
    ]
    _written(problem, result, incidents)
    return result
