"""Keeping the chunk index in step with its sources (articles, resolved tickets, Jira issues).

Jira issues are those of the knowledge projects as last read into ``JiraIssue`` (by the
backfill, the reconcile or a webhook: ``ai.knowledge.jira``); their public and internal
content land in separate passages, flagged ``is_public`` accordingly.

``do_index_sources`` is the one writer: the worker calls it when a source changes, the
``ai_backfill`` command calls it in batches. It is idempotent: passages whose text, title and
embedding model are unchanged are not embedded again, and a source that should not be indexed
(a draft article, a reopened or sensitive ticket) loses its chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from ai.knowledge.chunking import article_passages, jira_issue_passages, ticket_passages
from ai.knowledge.models import Chunk, JiraIssue, JiraIssueComment, KnowledgeArticle, SourceType
from ai.providers import embed_texts, get_embedder
from tickets.models import Ticket, TicketStatus

INDEXED_TICKET_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


@dataclass(frozen=True)
class Document:
    source_type: str
    source_id: int
    title: str
    passages: list[str]
    is_public: bool = False
    # Per passage, when they differ (a Jira issue's public and internal passages).
    passage_public: tuple[bool, ...] = ()

    @property
    def key(self) -> tuple[str, int]:
        return (self.source_type, self.source_id)

    def is_public_at(self, position: int) -> bool:
        return self.passage_public[position] if self.passage_public else self.is_public


@dataclass
class IndexStats:
    sources: int = 0
    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    keys: list[tuple[str, int]] = field(default_factory=list)

    def add(self, other: IndexStats) -> None:
        self.sources += other.sources
        self.embedded += other.embedded
        self.unchanged += other.unchanged
        self.deleted += other.deleted


# --- what each source type contributes ----------------------------------------------------------
def article_documents(ids: Iterable[int]) -> dict[int, Document]:
    documents = {}
    for article in KnowledgeArticle.objects.filter(pk__in=list(ids)).published():
        passages = article_passages(article.body)
        documents[article.pk] = Document(
            SourceType.ARTICLE, article.pk, article.title[:255], passages, is_public=article.is_public
        )
    return documents


def ticket_documents(ids: Iterable[int]) -> dict[int, Document]:
    documents = {}
    tickets = (
        Ticket.objects.filter(pk__in=list(ids), status__in=INDEXED_TICKET_STATUSES, sensitive=False)
        .exclude(resolution="")
        .only("pk", "number", "title", "description", "resolution")
    )
    for ticket in tickets:
        passages = ticket_passages(ticket.title, ticket.description, ticket.resolution)
        documents[ticket.pk] = Document(
            SourceType.TICKET, ticket.pk, f"{ticket.number} {ticket.title}"[:255], passages
        )
    return documents


def jira_issue_documents(ids: Iterable[int]) -> dict[int, Document]:
    documents = {}
    issues = (
        JiraIssue.objects.in_knowledge()
        .filter(pk__in=list(ids))
        .prefetch_related(
            Prefetch("comments", queryset=JiraIssueComment.objects.live().order_by("jira_created_at", "pk"))
        )
    )
    for issue in issues:
        comments = list(issue.comments.all())
        passages = jira_issue_passages(
            issue.description,
            issue.status,
            issue.resolution,
            [(comment.author, comment.body) for comment in comments if not comment.internal],
            [(comment.author, comment.body) for comment in comments if comment.internal],
        )
        if not passages:  # an issue with nothing but a summary is still found by its summary
            passages = [(issue.summary or issue.key, True)]
        documents[issue.pk] = Document(
            SourceType.JIRA_ISSUE,
            issue.pk,
            f"{issue.key} {issue.summary}"[:255],
            [text for text, _public in passages],
            is_public=True,
            passage_public=tuple(public for _text, public in passages),
        )
    return documents


LOADERS: dict[str, Callable[[Iterable[int]], dict[int, Document]]] = {
    SourceType.ARTICLE: article_documents,
    SourceType.TICKET: ticket_documents,
    SourceType.JIRA_ISSUE: jira_issue_documents,
}


def indexable_ids(source_type: str) -> list[int] | None:
    """Every id that should have chunks (for the backfill); None when the type has no loader."""
    if source_type == SourceType.ARTICLE:
        return list(KnowledgeArticle.objects.published().order_by("pk").values_list("pk", flat=True))
    if source_type == SourceType.TICKET:
        return list(
            Ticket.objects.filter(status__in=INDEXED_TICKET_STATUSES, sensitive=False)
            .exclude(resolution="")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    if source_type == SourceType.JIRA_ISSUE:
        return list(JiraIssue.objects.in_knowledge().order_by("pk").values_list("pk", flat=True))
    return None


def embedding_input(document: Document, passage: str) -> str:
    return f"{document.title}\n{passage}"


def embedding_model_label() -> str:
    embedder = get_embedder()
    return f"{embedder.name}:{embedder.model}"


# --- the writer -----------------------------------------------------------------------------------
def _lock_sources(keys: list[tuple[str, int]]) -> None:
    """Transaction-scoped advisory locks, in a fixed order: two writers of one source take turns."""
    names = sorted(f"kb-chunk:{source_type}:{source_id}" for source_type, source_id in keys)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(name, 0))) "
            "FROM (SELECT unnest(%s::text[]) AS name ORDER BY 1) AS names",
            [names],
        )


def do_index_sources(keys: Iterable[tuple[str, int]], *, force: bool = False) -> IndexStats:
    """Brings the chunks of these sources in line with the sources; returns what it did."""
    keys = sorted({(str(source_type), int(source_id)) for source_type, source_id in keys})
    stats = IndexStats(sources=len(keys), keys=keys)
    if not keys:
        return stats
    unknown = {source_type for source_type, _ in keys} - set(LOADERS)
    if unknown:
        raise ValueError(f"No loader for source type(s): {', '.join(sorted(unknown))}")
    model_label = embedding_model_label()
    with transaction.atomic():
        _lock_sources(keys)
        documents: dict[tuple[str, int], Document] = {}
        by_type: dict[str, list[int]] = {}
        for source_type, source_id in keys:
            by_type.setdefault(source_type, []).append(source_id)
        for source_type, ids in by_type.items():
            for document in LOADERS[source_type](ids).values():
                documents[document.key] = document

        existing: dict[tuple[str, int, int], dict] = {}
        selector = Q()
        for source_type, ids in by_type.items():
            selector |= Q(source_type=source_type, source_id__in=ids)
        for row in Chunk.objects.filter(selector).values(
            "pk", "source_type", "source_id", "position", "title", "text", "is_public", "embedding_model"
        ):
            existing[(row["source_type"], row["source_id"], row["position"])] = row

        to_embed: list[tuple[Document, int, str]] = []
        flag_only: list[tuple[int, bool]] = []
        for document in documents.values():
            for position, passage in enumerate(document.passages):
                is_public = document.is_public_at(position)
                row = existing.get((document.source_type, document.source_id, position))
                same = (
                    row is not None
                    and not force
                    and row["text"] == passage
                    and row["title"] == document.title
                    and row["embedding_model"] == model_label
                )
                if not same:
                    to_embed.append((document, position, passage))
                elif row["is_public"] != is_public:
                    flag_only.append((row["pk"], is_public))
                else:
                    stats.unchanged += 1

        if to_embed:
            vectors = embed_texts([embedding_input(document, passage) for document, _, passage in to_embed])
            now = timezone.now()
            Chunk.objects.bulk_create(
                [
                    Chunk(
                        source_type=document.source_type,
                        source_id=document.source_id,
                        position=position,
                        title=document.title,
                        text=passage,
                        is_public=document.is_public_at(position),
                        embedding=vector,
                        embedding_model=model_label,
                        updated_at=now,
                    )
                    for (document, position, passage), vector in zip(to_embed, vectors, strict=True)
                ],
                update_conflicts=True,
                unique_fields=["source_type", "source_id", "position"],
                update_fields=["title", "text", "is_public", "embedding", "embedding_model", "updated_at"],
            )
            stats.embedded = len(to_embed)
        for is_public in (True, False):
            pks = [pk for pk, public in flag_only if public == is_public]
            if pks:
                # The audience changed (an article's), not the text: no need to embed again.
                Chunk.objects.filter(pk__in=pks).update(is_public=is_public)
        stats.unchanged += len(flag_only)

        stale = Q(pk__in=[])
        for source_type, source_id in keys:
            document = documents.get((source_type, source_id))
            if document is None:
                stale |= Q(source_type=source_type, source_id=source_id)
            else:
                stale |= Q(source_type=source_type, source_id=source_id, position__gte=len(document.passages))
        stats.deleted, _ = Chunk.objects.filter(stale).delete()
    return stats


def do_index_source(source_type: str, source_id: int, *, force: bool = False) -> IndexStats:
    return do_index_sources([(source_type, source_id)], force=force)
