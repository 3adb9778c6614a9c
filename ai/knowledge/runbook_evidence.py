"""Embedding similarity as runbook-matching evidence (``runbooks.matching.register_evidence``).

A ticket that reads like the tickets a runbook resolved before is a better fit for it. For each
runbook, the ticket's title and description (embedded like a search query) are compared with
the indexed passages (``knowledge.Chunk``, source type ``ticket``) of the tickets its
successful executions worked on that are now resolved or closed — the newest ``RECENT`` of them,
in one query. The best cosine similarity at or above ``FLOOR`` adds
``WEIGHT * (similarity - FLOOR) / (1 - FLOOR)`` to the runbook's score, with the reason naming
the ticket; below ``FLOOR`` it adds nothing. Runbooks know nothing of this module: without it
(or with the embedding provider down) matching works on its other evidence.

Sensitive tickets are never indexed, so they are never compared nor named; a sensitive ticket
being matched is not embedded either (its text does not go to a remote provider).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import connection
from django.utils.translation import gettext as _

from ai.knowledge.indexing import embedding_model_label
from ai.knowledge.models import Chunk, SourceType
from ai.knowledge.replies import ticket_query
from ai.providers.embeddings import embed_text
from ai.providers.http import ProviderUnavailable
from runbooks.matching import register_evidence
from runbooks.models import ExecutionStatus, RunbookExecution
from tickets.models import Ticket, TicketStatus

if TYPE_CHECKING:
    from runbooks.matching import Match

logger = logging.getLogger(__name__)

NAME = "ai-similar-resolved-tickets"
WEIGHT = 2.0  # a near-identical resolved ticket weighs as much as the category
FLOOR = 0.5  # MiniLM: unrelated IT tickets score about 0.1–0.4, the same fault 0.6 and more
RECENT = 200  # resolved tickets compared per runbook: its newest successes
RESOLVED = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


def weight_for(similarity: float) -> float:
    if similarity < FLOOR:
        return 0.0
    return round(WEIGHT * (min(similarity, 1.0) - FLOOR) / (1.0 - FLOOR), 3)


def _vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{value:.7g}" for value in vector) + "]"


def best_resolved_matches(
    ticket: Ticket, runbook_ids: list[int], vector: list[float]
) -> dict[int, tuple[str, float]]:
    """{runbook id: (number of its most similar resolved ticket, cosine similarity)}: one query."""
    sql = f"""
        SELECT DISTINCT ON (recent.runbook_id) recent.runbook_id, recent.number,
               1 - (c.embedding <=> %(vector)s::vector) AS similarity
        FROM unnest(%(runbooks)s::bigint[]) AS r(id)
        CROSS JOIN LATERAL (
            SELECT e.runbook_id, e.ticket_id, t.number
            FROM {RunbookExecution._meta.db_table} e
            JOIN {Ticket._meta.db_table} t ON t.id = e.ticket_id
            WHERE e.runbook_id = r.id AND e.status = %(succeeded)s AND e.ticket_id <> %(ticket)s
              AND t.status = ANY(%(resolved)s) AND NOT t.sensitive
            ORDER BY e.created_at DESC
            LIMIT {RECENT}
        ) AS recent
        JOIN {Chunk._meta.db_table} c
          ON c.source_type = %(source)s AND c.source_id = recent.ticket_id AND c.embedding_model = %(model)s
        ORDER BY recent.runbook_id, c.embedding <=> %(vector)s::vector
    """  # noqa: S608 - table names from the models, values as parameters
    params = {
        "vector": _vector_literal(vector),
        "runbooks": runbook_ids,
        "succeeded": ExecutionStatus.SUCCEEDED,
        "ticket": ticket.pk,
        "resolved": list(RESOLVED),
        "source": SourceType.TICKET,
        "model": embedding_model_label(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            runbook_id: (number, float(similarity)) for runbook_id, number, similarity in cursor.fetchall()
        }


def add_similarity_evidence(ticket: Ticket, matches: list[Match]) -> None:
    """The ``runbooks.matching`` evidence: see the module's docstring."""
    runbook_ids = sorted({match.version.runbook_id for match in matches})
    if not runbook_ids or ticket.sensitive:
        return
    # Embedding costs more than this query: skip it when no runbook resolved anything yet.
    history = RunbookExecution.objects.filter(
        runbook_id__in=runbook_ids, status=ExecutionStatus.SUCCEEDED, ticket__status__in=RESOLVED
    ).exclude(ticket=ticket)
    if not history.exists():
        return
    try:
        vector = embed_text(ticket_query(ticket))
    except ProviderUnavailable:
        logger.info("runbook matching for %s without similarity: embeddings unavailable", ticket.number)
        return
    best = best_resolved_matches(ticket, runbook_ids, vector)
    for match in matches:
        found = best.get(match.version.runbook_id)
        if found is None:
            continue
        number, similarity = found
        weight = weight_for(similarity)
        if weight > 0:
            match.add(
                weight,
                _("similar (%(percent)d %%) to %(number)s, which it resolved")
                % {"percent": round(similarity * 100), "number": number},
            )


def register() -> None:
    register_evidence(NAME, add_similarity_evidence)
