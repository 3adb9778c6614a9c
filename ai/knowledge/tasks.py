"""Background work of the knowledge base: keep the chunk index in step with its sources."""

from __future__ import annotations

import logging

from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from itsm.lib.tasks import defer_once_on_commit

logger = logging.getLogger(__name__)

# An embeddings endpoint that is down makes the job fail; it is retried after 3, 9, 27 … seconds
# (about three hours in all) and the chunks catch up when the provider is back.
INDEX_RETRY = RetryStrategy(max_attempts=10, exponential_wait=3)


@app.task(queue="ai", pass_context=False, retry=INDEX_RETRY)
def index_source(source_type: str, source_id: int) -> None:
    """(Re-)embeds one source's chunks, or removes them when it should no longer be indexed."""
    from ai.knowledge.indexing import do_index_source

    stats = do_index_source(source_type, source_id)
    logger.info("indexed %s:%s embedded=%s deleted=%s", source_type, source_id, stats.embedded, stats.deleted)


def schedule_index(source_type: str, source_id: int) -> None:
    """Defers ``index_source`` once the current transaction commits (nothing on rollback).

    One waiting job per source is enough (it reads the source when it runs): a second request
    is dropped while one waits, and two jobs of one source run in turn (``serial``).
    """
    defer_once_on_commit(
        index_source,
        lock=f"kb-index:{source_type}:{source_id}",
        serial=True,
        source_type=source_type,
        source_id=source_id,
    )
