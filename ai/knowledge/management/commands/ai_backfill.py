"""Embeds existing content into the chunk index, in batches, resumably, with progress.

By default only sources without chunks (or whose chunks were made by another embedding model)
are processed, so an interrupted run picks up where it stopped. ``--force`` re-embeds every
source; ``--start-after ID`` resumes a forced run after the last id it printed.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ai.knowledge.indexing import LOADERS, do_index_sources, embedding_model_label, indexable_ids
from ai.knowledge.models import Chunk, SourceType
from ai.providers import ProviderUnavailable


class Command(BaseCommand):
    help = (
        "Embed knowledge articles, resolved tickets and stored Jira knowledge issues into the search "
        "index (batched, resumable). Reading issues from Jira is jira_kb_backfill's job."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sources",
            default="article,ticket,jira_issue",
            help="Comma-separated source types: article, ticket, jira_issue (default all three).",
        )
        parser.add_argument("--batch-size", type=int, default=64, help="Sources per batch (default 64).")
        parser.add_argument(
            "--force", action="store_true", help="Re-embed every source, not only missing ones."
        )
        parser.add_argument(
            "--start-after", type=int, default=0, help="Skip sources with an id up to this one."
        )
        parser.add_argument(
            "--limit", type=int, default=0, help="Stop after this many sources (0: no limit)."
        )

    def handle(self, *args: object, **options: object) -> None:
        sources = [source.strip() for source in str(options["sources"]).split(",") if source.strip()]
        unknown = [source for source in sources if source not in SourceType.values or source not in LOADERS]
        if not sources or unknown:
            raise CommandError(
                f"Unknown source type(s): {', '.join(unknown) or '(none given)'}; use article, ticket, jira_issue."
            )
        batch_size = int(options["batch_size"])
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        limit = int(options["limit"])
        if limit < 0 or int(options["start_after"]) < 0:
            raise CommandError("--limit and --start-after cannot be negative.")
        try:
            model = embedding_model_label()
        except ProviderUnavailable as error:
            raise CommandError(f"Embeddings provider misconfigured: {error}") from error

        for source_type in sources:
            self._backfill(
                source_type,
                model=model,
                batch_size=batch_size,
                force=bool(options["force"]),
                start_after=int(options["start_after"]),
                limit=limit,
            )

    def _backfill(
        self, source_type: str, *, model: str, batch_size: int, force: bool, start_after: int, limit: int
    ) -> None:
        wanted = indexable_ids(source_type) or []
        indexed = Chunk.objects.filter(source_type=source_type)
        current = set(indexed.filter(embedding_model=model).values_list("source_id", flat=True).distinct())
        stale = set(indexed.exclude(embedding_model=model).values_list("source_id", flat=True).distinct())
        # Chunks whose source is gone or no longer indexable: the writer removes them.
        orphans = sorted((current | stale) - set(wanted))
        todo = [pk for pk in wanted if pk > start_after and (force or pk not in current or pk in stale)]
        todo += [pk for pk in orphans if pk > start_after]
        if limit:
            todo = todo[:limit]
        total = len(todo)
        self.stdout.write(
            f"{source_type}: {len(wanted)} indexable, {len(current - stale)} already current, "
            f"{total} to process ({len(orphans)} to remove) with {model}"
        )
        started = time.monotonic()
        embedded = done = 0
        for start in range(0, total, batch_size):
            batch = todo[start : start + batch_size]
            try:
                stats = do_index_sources([(source_type, pk) for pk in batch], force=force)
            except ProviderUnavailable as error:
                raise CommandError(
                    f"Embeddings provider unavailable after {done} {source_type} sources ({error}). "
                    f"Nothing is lost: run the command again to resume."
                ) from error
            done += len(batch)
            embedded += stats.embedded
            elapsed = max(time.monotonic() - started, 1e-6)
            rate = done / elapsed
            eta = (total - done) / rate if rate else 0
            self.stdout.write(
                f"{source_type}: {done}/{total} ({done * 100 // max(total, 1)}%) "
                f"{embedded} passages embedded, {rate:.1f} sources/s, ETA {eta:.0f}s, last id {batch[-1]}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"{source_type}: done, {done} sources, {embedded} passages embedded.")
        )
