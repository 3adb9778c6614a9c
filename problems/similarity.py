"""How similar two incidents are: trigram similarity (pg_trgm) and embeddings (pgvector).

The problems app knows no embedding model (``ai`` is an edge that imports domain apps, never
the other way): the ``ai`` app registers its text embedder here from its ``ready()``. Without
one, detection uses trigram similarity alone.

Which combination finds clusters best was measured on a labelled fixture
(``bench/problems_clusters.py``, figures in bench/README.md); the settings default to it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from problems.models import IncidentVector
from tickets.models import Ticket

Embedder = Callable[[Sequence[str]], list[list[float]]]


@dataclass(frozen=True)
class RegisteredEmbedder:
    embed: Embedder
    model: Callable[[], str]  # names the model in use (a changed model makes vectors stale)


_embedder: RegisteredEmbedder | None = None


def register_embedder(embed: Embedder, *, model: Callable[[], str]) -> None:
    global _embedder
    _embedder = RegisteredEmbedder(embed=embed, model=model)


def unregister_embedder() -> None:
    global _embedder
    _embedder = None


def embedder() -> RegisteredEmbedder | None:
    """The registered embedder, when detection is to use embeddings at all."""
    if not settings.PROBLEM_DETECTION_EMBEDDINGS:
        return None
    return _embedder


@dataclass(frozen=True)
class Method:
    """One way of pairing incidents: a pair matches when any enabled measure reaches its threshold.

    ``trigram`` compares ``text`` (``title`` or ``title+description``) with pg_trgm;
    ``cosine`` compares the embeddings of title and description; ``same_category`` pairs
    only incidents of the same category (none with none).
    """

    trigram: float | None = 0.5
    text: str = "title"
    cosine: float | None = None
    same_category: bool = True

    def label(self) -> str:
        parts = []
        if self.trigram is not None:
            parts.append(f"trigram({self.text})≥{self.trigram}")
        if self.cosine is not None:
            parts.append(f"embedding≥{self.cosine}")
        return " or ".join(parts) + (", same category" if self.same_category else ", any category")


def configured_method() -> Method:
    return Method(
        trigram=settings.PROBLEM_DETECTION_SIMILARITY,
        text=settings.PROBLEM_DETECTION_TEXT,
        cosine=settings.PROBLEM_DETECTION_EMBEDDING_SIMILARITY if embedder() is not None else None,
        same_category=settings.PROBLEM_DETECTION_SAME_CATEGORY,
    )


# A description repeated word for word by this many of the compared incidents is boilerplate (a
# form's or a signature's text): it would make unrelated incidents look alike, so it is left out.
BOILERPLATE_REPEATS = 3


def boilerplate(descriptions: Iterable[str]) -> set[str]:
    counts = Counter(" ".join((text or "").split()).lower() for text in descriptions)
    return {text for text, count in counts.items() if text and count >= BOILERPLATE_REPEATS}


def incident_text(title: str, description: str) -> str:
    """What an incident's embedding is made of: its title, and the start of its description when
    ``PROBLEM_DETECTION_EMBEDDING_TEXT`` says so (boilerplate descriptions then weigh in)."""
    if settings.PROBLEM_DETECTION_EMBEDDING_TEXT == "title":
        return title.strip()
    return f"{title}\n{(description or '')[:500]}".strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_vectors(ticket_ids: Iterable[int]) -> int:
    """Embed the incidents among ``ticket_ids`` whose vector is missing or stale; returns how many.

    Nothing happens without a registered embedder. An embedder that fails (an unreachable
    provider) leaves the vectors missing: detection then pairs those incidents by trigram only.
    """
    registered = embedder()
    ids = list(ticket_ids)
    if registered is None or not ids:
        return 0
    rows = list(Ticket.objects.filter(pk__in=ids).values_list("pk", "title", "description"))
    model = registered.model()
    known = {
        pk: (digest, used)
        for pk, digest, used in IncidentVector.objects.filter(ticket_id__in=ids).values_list(
            "ticket_id", "text_hash", "model"
        )
    }
    repeated = boilerplate(description for _pk, _title, description in rows)
    stale = []
    for pk, title, description in rows:
        if " ".join((description or "").split()).lower() in repeated:
            description = ""
        text = incident_text(title, description)
        if known.get(pk) != (text_hash(text), model):
            stale.append((pk, text))
    if not stale:
        return 0
    try:
        vectors = registered.embed([text for _pk, text in stale])
    except Exception:  # noqa: BLE001 - a provider failure must not stop trigram detection
        return 0
    IncidentVector.objects.bulk_create(
        [
            IncidentVector(ticket_id=pk, embedding=vector, text_hash=text_hash(text), model=model)
            for (pk, text), vector in zip(stale, vectors, strict=True)
        ],
        update_conflicts=True,
        unique_fields=["ticket"],
        update_fields=["embedding", "text_hash", "model"],
    )
    return len(stale)


# The incidents detection compares: recent, not linked, never sensitive (a detected problem is read
# by every agent and viewer and named after its oldest incident), not cancelled or archived.
RECENT_SQL = """
    SELECT t.id, t.title, t.title || ' ' || left(t.description, 500) AS body, t.category_id, v.embedding
    FROM tickets_ticket t
    LEFT JOIN problems_problemincident l ON l.ticket_id = t.id
    LEFT JOIN problems_incidentvector v ON v.ticket_id = t.id
    WHERE t.type = 'incident' AND t.created_at >= %(since)s AND NOT t.archived
      AND NOT t.sensitive AND t.status <> 'cancelled' AND l.id IS NULL
"""

# The incidents of open problems that new incidents may join (sensitive ones never attract).
MEMBER_SQL = """
    SELECT t.id, t.title, t.title || ' ' || left(t.description, 500) AS body, t.category_id,
           v.embedding, l.problem_id
    FROM problems_problemincident l
    JOIN problems_problem p ON p.id = l.problem_id
    JOIN tickets_ticket t ON t.id = l.ticket_id
    LEFT JOIN problems_incidentvector v ON v.ticket_id = t.id
    WHERE p.status NOT IN ('resolved', 'closed') AND NOT t.sensitive
"""


def _score_and_condition(method: Method) -> tuple[str, str, dict[str, Any]]:
    column = "title" if method.text == "title" else "body"
    scores, conditions = [], []
    params: dict[str, Any] = {}
    if method.trigram is not None:
        scores.append(f"similarity(a.{column}, b.{column})")
        conditions.append(f"similarity(a.{column}, b.{column}) >= %(trigram)s")
        params["trigram"] = method.trigram
    if method.cosine is not None:
        scores.append("COALESCE(1 - (a.embedding <=> b.embedding), 0)")
        conditions.append("(a.embedding <=> b.embedding) <= %(distance)s")
        params["distance"] = 1 - method.cosine
    if not conditions:
        raise ValueError("A method needs trigram or cosine similarity.")
    score = scores[0] if len(scores) == 1 else f"GREATEST({', '.join(scores)})"
    condition = "(" + " OR ".join(conditions) + ")"
    if method.same_category:
        condition += " AND a.category_id IS NOT DISTINCT FROM b.category_id"
    return score, condition, params


def similar_pairs(since: Any, method: Method) -> list[tuple[int, int, float]]:
    """Pairs of recent, unlinked incidents that ``method`` finds similar, in one query."""
    score, condition, params = _score_and_condition(method)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH recent AS MATERIALIZED ({RECENT_SQL})
            SELECT a.id, b.id, {score} FROM recent a JOIN recent b ON a.id < b.id
            WHERE {condition}
            """,  # noqa: S608 - fragments are fixed strings; values are parameters
            {**params, "since": since},
        )
        return cursor.fetchall()


def joinable(since: Any, method: Method) -> list[tuple[int, int, float]]:
    """(incident, problem, score): each recent unlinked incident similar to an incident of an open
    problem, with the problem whose incident it resembles most, in one query."""
    score, condition, params = _score_and_condition(method)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH recent AS MATERIALIZED ({RECENT_SQL}), member AS MATERIALIZED ({MEMBER_SQL})
            SELECT DISTINCT ON (a.id) a.id, b.problem_id, {score} AS score
            FROM recent a JOIN member b ON a.id <> b.id
            WHERE {condition}
            ORDER BY a.id, score DESC, b.problem_id
            """,  # noqa: S608 - fragments are fixed strings; values are parameters
            {**params, "since": since},
        )
        return cursor.fetchall()


def recent_and_member_ids(since: Any) -> list[int]:
    """The incidents detection compares (to embed them first)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM ({RECENT_SQL}) r UNION SELECT id FROM ({MEMBER_SQL}) m",  # noqa: S608
            {"since": since},
        )
        return [row[0] for row in cursor.fetchall()]


def clusters(pairs: list[tuple[int, int, float]]) -> list[set[int]]:
    """Connected components of the pairs (union-find)."""
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
