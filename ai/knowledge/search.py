"""Hybrid retrieval over the chunk index: PostgreSQL full-text rank fused with pgvector cosine
similarity by reciprocal rank fusion (RRF), limited to what the caller may see.

How access is kept:
1. Candidates are fetched per *scope* the caller may search: agents every chunk of the asked
   source types; viewers public article chunks and ticket chunks; requesters public article
   chunks and the chunks of their own tickets (an exact search over a handful of rows: the
   HNSW graph would rarely lead to them). Jira issues: agents every chunk of the knowledge
   projects; anyone else only the public passages (never a JSM internal comment) of resolved
   issues of projects shared with their organisation, and nothing without one.
2. Every candidate's source is then checked against the source's own rules
   (``KnowledgeArticle.objects.searchable_by``, ``Ticket.objects.visible_to``,
   ``JiraIssue.objects.searchable_by``), so a chunk that is out of date (an article
   unpublished a second ago, an issue deleted in Jira) is never shown.

A Jira issue linked to a local ticket (``integrations.jira.models.JiraLink``) is one item: when
both are found, the better-ranked one is kept and carries the other's identity (a ticket hit
gets the issue's key, link, status and resolution; a Jira hit the ticket's id as
``linked_ticket_id``); excluding a ticket excludes its issue.

For callers (pages, the API, smart replies, and the copilot and quick fix): ``hybrid_search``
returns ``SearchHit``s; a Jira item has ``source_type == "jira_issue"``, ``source_id`` = the
Jira issue id, ``key`` (``ITSUP-42``), ``url`` = ``jira_url`` (``JIRA_BASE_URL/browse/KEY``),
``status`` and ``resolution`` (Jira's names; ``resolution`` empty while unresolved).
``similar_items`` is the ticket page's "similar items" question asked for any caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, F, FloatField, Q, QuerySet, Value
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from pgvector.django import CosineDistance

from ai.knowledge.models import Chunk, JiraIssue, JiraKnowledgeProject, KnowledgeArticle, SourceType
from ai.providers import ProviderUnavailable, embed_text
from integrations.jira.models import JiraLink
from tickets.models import Ticket

MAX_K = 50
MAX_QUERY_CHARS = 2000
MAX_QUERY_WORDS = 16
MAX_OWN_TICKETS = 2000
SNIPPET_CHARS = 240
CHUNK_FIELDS = ("pk", "source_type", "source_id", "position", "title", "text")


class SearchInputError(ValueError):
    """Bad search input; the message says what is wrong (pages and the API answer 400)."""


@dataclass
class SearchHit:
    source_type: str
    source_id: int
    title: str
    text: str
    position: int
    score: float
    similarity: float | None
    text_rank: float | None
    snippet: str = ""
    # Jira: the issue's key, browse link, status and resolution names (Jira hits, and ticket
    # hits folded with the Jira issue they are linked to); empty otherwise.
    key: str = ""
    jira_url: str | None = None
    status: str = ""
    resolution: str = ""
    # A Jira hit that stands for a local ticket found too (the ticket's id).
    linked_ticket_id: int | None = None

    @property
    def url(self) -> str | None:
        if self.source_type == SourceType.JIRA_ISSUE:
            return self.jira_url
        return source_url(self.source_type, self.source_id)

    @property
    def is_jira(self) -> bool:
        return self.source_type == SourceType.JIRA_ISSUE

    @property
    def similarity_percent(self) -> int | None:
        return None if self.similarity is None else max(0, round(self.similarity * 100))


@dataclass
class SearchResult:
    hits: list[SearchHit]
    # "hybrid", or "text" when the embeddings provider was unavailable.
    mode: str


def source_url(source_type: str, source_id: int) -> str | None:
    try:
        if source_type == SourceType.ARTICLE:
            return reverse("ai:kb-article-detail", args=[source_id])
        if source_type == SourceType.TICKET:
            return reverse("tickets:ticket-detail", args=[source_id])
    except NoReverseMatch:
        return None
    return None


def clean_sources(sources: Iterable[str] | None) -> list[str]:
    if sources is None:
        return [SourceType.ARTICLE, SourceType.TICKET, SourceType.JIRA_ISSUE]
    cleaned = []
    for source in sources:
        if source not in SourceType.values:
            raise SearchInputError(
                _("Unknown source %(source)r: use %(choices)s.")
                % {"source": source, "choices": ", ".join(SourceType.values)}
            )
        if source not in cleaned:
            cleaned.append(source)
    if not cleaned:
        raise SearchInputError(_("Name at least one source."))
    return cleaned


def query_words(query: str) -> list[str]:
    words: list[str] = []
    for word in re.findall(r"\w+", query.lower()):
        if len(word) > 1 and word not in words:
            words.append(word)
    return words[:MAX_QUERY_WORDS]


def _scopes(user: object, sources: Sequence[str]) -> tuple[list[Q], list[Q]]:
    """(approximate scopes, exact scopes) of the chunk index the caller may search."""
    approximate: list[Q] = []
    exact: list[Q] = []
    is_agent = getattr(user, "is_agent", False)
    if SourceType.ARTICLE in sources:
        approximate.append(
            Q(source_type=SourceType.ARTICLE)
            if is_agent
            else Q(source_type=SourceType.ARTICLE, is_public=True)
        )
    if SourceType.TICKET in sources:
        if getattr(user, "is_requester", False):
            own = list(
                Ticket.objects.visible_to(user)
                .order_by("-created_at")
                .values_list("pk", flat=True)[:MAX_OWN_TICKETS]
            )
            if own:
                exact.append(Q(source_type=SourceType.TICKET, source_id__in=own))
        else:
            approximate.append(Q(source_type=SourceType.TICKET))
    if SourceType.JIRA_ISSUE in sources:
        if is_agent:
            approximate.append(Q(source_type=SourceType.JIRA_ISSUE))
        elif JiraKnowledgeProject.objects.shared_with(getattr(user, "organisation_id", None)).exists():
            # Public passages of the issues shared with the caller's organisation (a subquery:
            # the vector index scan filters by it as it walks).
            approximate.append(
                Q(
                    source_type=SourceType.JIRA_ISSUE,
                    is_public=True,
                    source_id__in=JiraIssue.objects.searchable_by(user).values("pk"),
                )
            )
    return approximate, exact


_iterative_scan: dict[str, bool] = {}


def has_iterative_scan() -> bool:
    """Whether the database's pgvector has iterative index scans (0.8.0 and later); asked once."""
    alias = connection.alias
    if alias not in _iterative_scan:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
        version = tuple(int(part) for part in re.findall(r"\d+", row[0])[:2]) if row else (0, 0)
        _iterative_scan[alias] = version >= (0, 8)
    return _iterative_scan[alias]


def _excluding(queryset: QuerySet, exclude: Iterable[tuple[str, int]]) -> QuerySet:
    for source_type, source_id in exclude:
        queryset = queryset.exclude(source_type=source_type, source_id=source_id)
    return queryset


def _vector_candidates(
    scope: Q, vector: list[float], limit: int, *, exact: bool, exclude: Iterable[tuple[str, int]]
) -> list[dict]:
    distance = CosineDistance("embedding", vector)
    if exact:
        # "+ 0" hides the operator from the planner: a few rows read by the btree, sorted exactly.
        distance = ExpressionWrapper(distance + Value(0.0), output_field=FloatField())
    queryset = (
        _excluding(Chunk.objects.filter(scope), exclude).annotate(distance=distance).order_by("distance")
    )
    return list(queryset.values(*CHUNK_FIELDS, "distance")[:limit])


# The lexemes (stemmed, stop words dropped) of the query, with how many passages hold each
# according to PostgreSQL's statistics of the column (pg_stats.most_common_elems × rows).
_LEXEMES_SQL = """
SELECT DISTINCT query.lexeme,
       COALESCE(common.frequency, 0) * GREATEST(
           (SELECT reltuples FROM pg_class WHERE oid = 'knowledge_chunk'::regclass), 0)
FROM unnest(to_tsvector('english', %s)) AS query
LEFT JOIN (
    SELECT element AS lexeme, frequency
    FROM pg_stats,
         unnest(most_common_elems::text::text[], most_common_elem_freqs) AS pair(element, frequency)
    WHERE schemaname = current_schema() AND tablename = 'knowledge_chunk' AND attname = 'search_vector'
) AS common ON common.lexeme = query.lexeme
"""


def text_query_for(words: list[str]) -> SearchQuery | None:
    """An OR of the query's lexemes, without those so common that ranking them would read too much.

    Natural-language questions rarely contain every word of a good passage, hence OR. Ranking
    reads every matching row, so a lexeme PostgreSQL expects in more than
    ``AI_SEARCH_MAX_TEXT_MATCHES`` passages is left out (at a million chunks one everyday word
    would make each search rank much of the table); the vector side still reads the whole
    query. A small knowledge base drops nothing.
    """
    if not words:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_LEXEMES_SQL, [" ".join(words)])
        rows = cursor.fetchall()
    limit = settings.AI_SEARCH_MAX_TEXT_MATCHES
    lexemes = sorted(lexeme for lexeme, expected in rows if expected <= limit)
    if not lexemes:
        return None
    # Quoted lexemes under the "simple" configuration: already stemmed, they are not stemmed again.
    raw = " | ".join("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return SearchQuery(raw, config="simple", search_type="raw")


def _text_candidates(
    scope: Q,
    text_query: SearchQuery,
    vector: list[float] | None,
    limit: int,
    exclude: Iterable[tuple[str, int]],
) -> list[dict]:
    # Two steps in one statement: rank the matches reading only their text vectors, then fetch
    # the columns (and compute the vector distance) for the best ``limit`` of them only.
    best = (
        _excluding(Chunk.objects.filter(scope).filter(search_vector=text_query), exclude)
        .annotate(text_rank=SearchRank(F("search_vector"), text_query))
        .order_by("-text_rank", "pk")
        .values("pk")[:limit]
    )
    queryset = Chunk.objects.filter(pk__in=best).annotate(
        text_rank=SearchRank(F("search_vector"), text_query)
    )
    if vector is not None:
        queryset = queryset.annotate(distance=CosineDistance("embedding", vector))
    fields = (*CHUNK_FIELDS, "text_rank", *(["distance"] if vector is not None else []))
    return list(queryset.order_by("-text_rank", "pk").values(*fields))


def _allowed_sources(user: object, candidates: Iterable[dict]) -> set[tuple[str, int]]:
    """The candidates' sources the caller may see, asked of each source's own rules."""
    ids: dict[str, set[int]] = {}
    for row in candidates:
        ids.setdefault(row["source_type"], set()).add(row["source_id"])
    allowed: set[tuple[str, int]] = set()
    if ids.get(SourceType.ARTICLE):
        for pk in (
            KnowledgeArticle.objects.searchable_by(user)
            .filter(pk__in=ids[SourceType.ARTICLE])
            .values_list("pk", flat=True)
        ):
            allowed.add((SourceType.ARTICLE, pk))
    if ids.get(SourceType.TICKET):
        for pk in (
            Ticket.objects.visible_to(user).filter(pk__in=ids[SourceType.TICKET]).values_list("pk", flat=True)
        ):
            allowed.add((SourceType.TICKET, pk))
    if ids.get(SourceType.JIRA_ISSUE):
        for pk in (
            JiraIssue.objects.searchable_by(user)
            .filter(pk__in=ids[SourceType.JIRA_ISSUE])
            .values_list("pk", flat=True)
        ):
            allowed.add((SourceType.JIRA_ISSUE, pk))
    return allowed


def linked_issues_of_tickets(ticket_ids: Iterable[int]) -> dict[int, int]:
    """{ticket id: Jira issue id} of the tickets linked to a Jira issue."""
    ticket_ids = list(ticket_ids)
    if not ticket_ids:
        return {}
    rows = JiraLink.objects.linked().filter(ticket_id__in=ticket_ids).values_list("ticket_id", "issue_id")
    return {ticket_id: int(issue_id) for ticket_id, issue_id in rows if str(issue_id).isdigit()}


def linked_tickets_of_issues(issue_ids: Iterable[int]) -> dict[int, int]:
    """{Jira issue id: ticket id} of the issues linked to a local ticket."""
    issue_ids = [str(issue_id) for issue_id in issue_ids]
    if not issue_ids:
        return {}
    rows = JiraLink.objects.filter(issue_id__in=issue_ids).values_list("issue_id", "ticket_id")
    return {int(issue_id): ticket_id for issue_id, ticket_id in rows}


def fold_linked(best: dict[tuple[str, int], dict]) -> None:
    """A Jira issue and its local ticket found together are one item: keep the better-ranked
    entry (its score is the item's best) and remember the other's identity on it."""
    issue_ids = [source_id for source_type, source_id in best if source_type == SourceType.JIRA_ISSUE]
    for issue_id, ticket_id in linked_tickets_of_issues(issue_ids).items():
        jira_key, ticket_key = (SourceType.JIRA_ISSUE, issue_id), (SourceType.TICKET, ticket_id)
        if jira_key not in best or ticket_key not in best:
            continue
        jira_entry, ticket_entry = best[jira_key], best[ticket_key]
        if jira_entry["score"] > ticket_entry["score"]:
            jira_entry["linked_ticket_id"] = ticket_id
            del best[ticket_key]
        else:
            ticket_entry["jira_issue_id"] = issue_id
            del best[jira_key]


def jira_details(issue_ids: Iterable[int]) -> dict[int, JiraIssue]:
    issue_ids = list(issue_ids)
    if not issue_ids:
        return {}
    return JiraIssue.objects.filter(pk__in=issue_ids).only("pk", "key", "status", "resolution").in_bulk()


def snippet_for(text: str, words: Sequence[str], length: int = SNIPPET_CHARS) -> str:
    plain = re.sub(r"[#*_`>|]+", " ", text)
    plain = re.sub(r"\s+", " ", plain).strip()
    if len(plain) <= length:
        return plain
    lowered = plain.lower()
    positions = [lowered.find(word) for word in words if lowered.find(word) >= 0]
    start = max(0, min(positions) - length // 4) if positions else 0
    piece = plain[start : start + length]
    return ("… " if start else "") + piece.strip() + " …"


def hybrid_search(
    user: object,
    query: str,
    *,
    k: int = 10,
    sources: Iterable[str] | None = None,
    exclude: Iterable[tuple[str, int]] = (),
    query_vector: list[float] | None = None,
) -> SearchResult:
    """The ``k`` best sources (one hit per source: its best passage) for ``query``."""
    query = (query or "").strip()
    if not query:
        raise SearchInputError(_("The query is empty."))
    if len(query) > MAX_QUERY_CHARS:
        raise SearchInputError(
            _("The query is longer than %(limit)s characters.") % {"limit": MAX_QUERY_CHARS}
        )
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise SearchInputError(_("k must be a whole number from 1 to %(limit)s.") % {"limit": MAX_K})
    sources = clean_sources(sources)
    exclude = list(exclude)
    if not getattr(user, "is_authenticated", False):
        return SearchResult([], "hybrid")
    if SourceType.JIRA_ISSUE in sources:
        # Excluding a ticket (the one on screen) excludes the Jira issue it is linked to.
        excluded_tickets = [
            source_id for source_type, source_id in exclude if source_type == SourceType.TICKET
        ]
        exclude += [
            (SourceType.JIRA_ISSUE, issue_id)
            for issue_id in linked_issues_of_tickets(excluded_tickets).values()
        ]
    approximate, exact = _scopes(user, sources)
    scopes = approximate + exact
    if not scopes:
        return SearchResult([], "hybrid")
    limit = max(settings.AI_SEARCH_CANDIDATES, k * 3)
    words = query_words(query)

    mode = "hybrid"
    vector = query_vector
    if vector is None:
        try:
            vector = embed_text(query)
        except ProviderUnavailable:
            vector, mode = None, "text"

    vector_rows: list[dict] = []
    if vector is not None:
        with transaction.atomic(), connection.cursor() as cursor:
            # Scoped to this transaction. The iterative scan (pgvector >= 0.8) keeps walking the
            # HNSW graph when the scope filter drops candidates, instead of returning too few.
            cursor.execute(
                "SELECT set_config('hnsw.ef_search', %s, true)",
                [str(max(settings.AI_SEARCH_EF_SEARCH, limit))],
            )
            if has_iterative_scan():
                cursor.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            if approximate:
                vector_rows += _vector_candidates(
                    reduce(or_, approximate), vector, limit, exact=False, exclude=exclude
                )
            if exact:
                vector_rows += _vector_candidates(
                    reduce(or_, exact), vector, limit, exact=True, exclude=exclude
                )
        vector_rows.sort(key=lambda row: row["distance"])
        vector_rows = vector_rows[:limit]
    text_query = text_query_for(words)
    text_rows = (
        _text_candidates(reduce(or_, scopes), text_query, vector, limit, exclude) if text_query else []
    )

    allowed = _allowed_sources(user, [*vector_rows, *text_rows])
    rrf_k = settings.AI_SEARCH_RRF_K
    chunks: dict[int, dict] = {}
    for ranked in (vector_rows, text_rows):
        rank = 0
        for row in ranked:
            if (row["source_type"], row["source_id"]) not in allowed:
                continue
            rank += 1
            entry = chunks.setdefault(row["pk"], {**row, "score": 0.0})
            entry["score"] += 1.0 / (rrf_k + rank)
            for name in ("distance", "text_rank"):
                if row.get(name) is not None:
                    entry[name] = row[name]

    best: dict[tuple[str, int], dict] = {}
    for entry in chunks.values():
        key = (entry["source_type"], entry["source_id"])
        if key not in best or entry["score"] > best[key]["score"]:
            best[key] = entry
    if SourceType.JIRA_ISSUE in sources and SourceType.TICKET in sources:
        fold_linked(best)
    ranked_sources = sorted(best.values(), key=lambda entry: (-entry["score"], entry.get("distance") or 2.0))[
        :k
    ]
    issues = jira_details(
        entry.get("jira_issue_id") or entry["source_id"]
        for entry in ranked_sources
        if entry["source_type"] == SourceType.JIRA_ISSUE or entry.get("jira_issue_id")
    )
    hits = []
    for entry in ranked_sources:
        hit = SearchHit(
            source_type=entry["source_type"],
            source_id=entry["source_id"],
            title=entry["title"],
            text=entry["text"],
            position=entry["position"],
            score=round(entry["score"], 6),
            similarity=None if entry.get("distance") is None else round(1.0 - float(entry["distance"]), 4),
            text_rank=None if entry.get("text_rank") is None else round(float(entry["text_rank"]), 4),
            snippet=snippet_for(entry["text"], words),
        )
        issue_id = entry["source_id"] if hit.is_jira else entry.get("jira_issue_id")
        issue = issues.get(issue_id) if issue_id else None
        if issue is not None:
            hit.key, hit.jira_url, hit.status, hit.resolution = (
                issue.key,
                issue.url,
                issue.status,
                issue.resolution,
            )
        hit.linked_ticket_id = entry.get("linked_ticket_id")
        hits.append(hit)
    return SearchResult(hits, mode)


def similar_items(
    user: object,
    ticket: Ticket,
    *,
    k: int = 5,
    sources: Iterable[str] = (SourceType.TICKET, SourceType.JIRA_ISSUE),
    min_similarity: float | None = None,
    query_vector: list[float] | None = None,
) -> list[SearchHit]:
    """Resolved tickets and Jira issues like this ticket (never itself, nor its own Jira issue),
    at least ``min_similarity`` (default ``AI_SUGGEST_MIN_SIMILARITY``) similar."""
    threshold = settings.AI_SUGGEST_MIN_SIMILARITY if min_similarity is None else min_similarity
    query = f"{ticket.title}\n{ticket.description}".strip()[:MAX_QUERY_CHARS]
    result = hybrid_search(
        user, query, k=k, sources=sources, exclude=[(SourceType.TICKET, ticket.pk)], query_vector=query_vector
    )
    return [hit for hit in result.hits if (hit.similarity or 0) >= threshold]
