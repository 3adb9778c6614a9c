"""Hybrid search over N chunks: p50/p95 latency of the product's ``hybrid_search`` and recall@10
of the HNSW index against exact (sequential) search.

    .venv/bin/python bench/ai_search.py [--chunks 1000000] [--queries 200] [--exact-queries 50]
                                        [--ef-search 40,100,200] [--database itsm_bench_ai] [--reuse]

Data: synthetic, loaded set-based with COPY (binary) into a separate bench database (created and
migrated if needed; the default database is never touched). Vectors are 384-dimension, unit
length, in 1,000 topics × 20 sub-topics (a topic centroid + a sub-topic offset + noise), so
neighbours have structure as real embeddings do; each chunk's text mixes 6 of its topic's 8
words with 34 words drawn from a Zipf-distributed 20,000-word vocabulary. Chunks belong to
published articles (5 per article; 80 % public, 20 % internal). Indexes are dropped for the
load and rebuilt after it (GIN full text, then HNSW m=16, ef_construction=64, cosine), timed.

Queries come from a random chunk's sub-topic (its centroid + fresh noise) with 3 of the topic's
words and one vocabulary word. Figures:
- vector top-10 through HNSW at each ef_search: p50/p95 latency and recall@10 against the exact
  top-10 (index scans off: a parallel sequential scan), over --exact-queries queries;
- the product's hybrid_search (full text + vectors + RRF + access checks) for an agent and a
  requester, query vector given (embedding a query costs what bench/ai_embeddings.py measures).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DIMENSIONS = 384
TOPICS = 1000
SUBTOPICS = 20
TOPIC_WORDS = 8
VOCABULARY = 20000
WORDS_PER_CHUNK = 34
CHUNKS_PER_ARTICLE = 5
BATCH = 20000
# Length of the per-vector noise next to the unit topic centroid and the 0.8 sub-topic offset:
# same sub-topic neighbours end up ~0.67 cosine apart, same topic ~0.41, other topics ~0,
# close to what MiniLM gives for near-duplicate, related and unrelated tickets.
NOISE = 0.9


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=50)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--ef-search", default="40,100,200")
    parser.add_argument("--database", default="itsm_bench_ai")
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the data if the bench database already holds N chunks."
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--maintenance-work-mem", default="3GB")
    args = parser.parse_args()
    if args.chunks < 1000:
        parser.error("--chunks must be at least 1000")
    if args.database in {
        "itsm",
        os.environ.get("EMBEDDED_DATABASE_NAME", "itsm"),
    } and not args.database.startswith("itsm_bench"):
        parser.error("use a database of its own for the bench (--database itsm_bench_…)")
    return args


def pseudo_words(count: int, rng, prefix: str) -> list[str]:
    syllables = [
        "ka",
        "lo",
        "mi",
        "ren",
        "tas",
        "vo",
        "zu",
        "pel",
        "dor",
        "fi",
        "gan",
        "hu",
        "jis",
        "qua",
        "wex",
        "yor",
    ]
    words: set[str] = set()
    while len(words) < count:  # 16^3 + 16^4 + 16^5 combinations: plenty
        words.add(prefix + "".join(rng.choice(syllables, size=rng.integers(3, 6))))
    return sorted(words)


class Corpus:
    """The synthetic topics: centroids, sub-topic offsets, topic words, vocabulary."""

    def __init__(self, seed: int) -> None:
        import numpy as np

        self.np = np
        self.rng = np.random.default_rng(seed)
        centroids = self.rng.standard_normal((TOPICS, DIMENSIONS)).astype(np.float32)
        self.centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
        offsets = self.rng.standard_normal((TOPICS, SUBTOPICS, DIMENSIONS)).astype(np.float32)
        self.offsets = 0.8 * offsets / np.linalg.norm(offsets, axis=2, keepdims=True)
        self.topic_words = np.array(pseudo_words(TOPICS * TOPIC_WORDS, self.rng, "t")).reshape(
            TOPICS, TOPIC_WORDS
        )
        self.vocabulary = np.array(pseudo_words(VOCABULARY, self.rng, "w"))
        ranks = np.arange(1, VOCABULARY + 1)
        self.zipf = (1.0 / ranks**1.07) / (1.0 / ranks**1.07).sum()

    def vectors(self, topics, subtopics):
        np = self.np
        noise = self.rng.standard_normal((len(topics), DIMENSIONS)).astype(np.float32)
        noise = NOISE * noise / np.linalg.norm(noise, axis=1, keepdims=True)
        vectors = self.centroids[topics] + self.offsets[topics, subtopics] + noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def texts(self, topics) -> list[str]:
        np = self.np
        general = self.vocabulary[
            self.rng.choice(VOCABULARY, size=(len(topics), WORDS_PER_CHUNK), p=self.zipf)
        ]
        picks = self.rng.integers(0, TOPIC_WORDS, size=(len(topics), 6))
        own = self.topic_words[np.asarray(topics)[:, None], picks]
        return [" ".join([*own[i], *general[i]]) for i in range(len(topics))]


def load(connection, corpus: Corpus, chunks: int, maintenance_work_mem: str) -> dict[str, float]:
    """COPY articles and chunks, then build the indexes; returns the timings."""
    import numpy as np
    from pgvector.psycopg import register_vector

    timings: dict[str, float] = {}
    raw = connection.connection
    register_vector(raw)
    articles = math.ceil(chunks / CHUNKS_PER_ARTICLE)
    with raw.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # no audit triggers for synthetic rows
        cursor.execute("TRUNCATE knowledge_chunk, knowledge_knowledgearticle RESTART IDENTITY CASCADE")
        cursor.execute("DROP INDEX IF EXISTS kb_chunk_embedding_hnsw")
        cursor.execute("DROP INDEX IF EXISTS kb_chunk_search_idx")
        raw.commit()

        started = time.perf_counter()
        rng = corpus.rng
        public = rng.random(articles) < 0.8
        with cursor.copy(
            "COPY knowledge_knowledgearticle (id, title, body, status, audience, helpful_votes, not_helpful_votes, "
            "created_at, updated_at, published_at) FROM STDIN"
        ) as copy:
            buffer = io.StringIO()
            for article in range(1, articles + 1):
                audience = "public" if public[article - 1] else "internal"
                buffer.write(
                    f"{article}\tArticle {article}\tSynthetic article {article}.\tpublished\t{audience}\t0\t0\t"
                    "2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\n"
                )
                if article % BATCH == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        timings["copy_articles_s"] = time.perf_counter() - started

        started = time.perf_counter()
        topic_of = rng.integers(0, TOPICS, size=chunks)
        subtopic_of = rng.integers(0, SUBTOPICS, size=chunks)
        with cursor.copy(
            "COPY knowledge_chunk (source_type, source_id, position, title, text, is_public, embedding, "
            "embedding_model, updated_at) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(
                ["varchar", "int8", "int4", "varchar", "text", "bool", "vector", "varchar", "timestamptz"]
            )
            from datetime import UTC, datetime

            now = datetime.now(UTC)
            for start in range(0, chunks, BATCH):
                end = min(start + BATCH, chunks)
                topics = topic_of[start:end]
                vectors = corpus.vectors(topics, subtopic_of[start:end])
                texts = corpus.texts(topics)
                for offset in range(end - start):
                    index = start + offset
                    article = index // CHUNKS_PER_ARTICLE + 1
                    copy.write_row(
                        (
                            "article",
                            article,
                            index % CHUNKS_PER_ARTICLE,
                            f"Article {article} {corpus.topic_words[topics[offset], 0]}",
                            texts[offset],
                            bool(public[article - 1]),
                            vectors[offset],
                            "bench:synthetic",
                            now,
                        )
                    )
                print(
                    f"  copied {end:,}/{chunks:,} chunks ({time.perf_counter() - started:.0f}s)", flush=True
                )
        raw.commit()
        timings["copy_chunks_s"] = time.perf_counter() - started

        cursor.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
        cursor.execute("SET max_parallel_maintenance_workers = 2")
        started = time.perf_counter()
        cursor.execute("CREATE INDEX kb_chunk_search_idx ON knowledge_chunk USING gin (search_vector)")
        raw.commit()
        timings["gin_index_s"] = time.perf_counter() - started
        print(f"  GIN index: {timings['gin_index_s']:.0f}s", flush=True)
        started = time.perf_counter()
        cursor.execute(
            "CREATE INDEX kb_chunk_embedding_hnsw ON knowledge_chunk USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
        raw.commit()
        timings["hnsw_index_s"] = time.perf_counter() - started
        print(f"  HNSW index: {timings['hnsw_index_s']:.0f}s", flush=True)
        started = time.perf_counter()
        cursor.execute("ANALYZE knowledge_chunk")
        cursor.execute("ANALYZE knowledge_knowledgearticle")
        cursor.execute("SET session_replication_role = origin")
        raw.commit()
        timings["analyze_s"] = time.perf_counter() - started
    del np
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def fresh_database(name: str) -> None:
    """Drops the bench database so it is migrated from scratch (it holds nothing else)."""
    import psycopg
    from psycopg import sql

    from itsm.embedded_db import ensure_server

    root = Path(__file__).resolve().parent.parent
    server = ensure_server(Path(os.environ.get("ITSM_VAR_DIR", root / "var")) / "pgdata")
    conninfo = {"dbname": server["MAINTENANCE_NAME"], "user": server["USER"], "host": server["HOST"]}
    if server["PORT"]:
        conninfo["port"] = server["PORT"]
    with psycopg.connect(**conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    args = parse_args()
    if os.environ.get("DATABASE_URL"):
        sys.exit(
            "The bench loads synthetic data into a database of its own on the embedded server: "
            "unset DATABASE_URL to run it."
        )
    if not args.reuse:
        fresh_database(args.database)
    os.environ["EMBEDDED_DATABASE_NAME"] = args.database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("ITSM_ENV", "development")
    import django

    django.setup()
    import numpy as np
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from ai.knowledge.search import hybrid_search
    from itsm.models import Role, User

    print(
        f"bench database: {settings.DATABASES['default']['NAME']}, chunks: {args.chunks:,}, "
        f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrated in {time.perf_counter() - started:.0f}s", flush=True)

    corpus = Corpus(args.seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM knowledge_chunk")
        existing = cursor.fetchone()[0]
    if args.reuse and existing == args.chunks:
        print(f"reusing {existing:,} chunks")
        timings: dict[str, float] = {}
        corpus.rng.integers(0, TOPICS, size=args.chunks)  # keep the query stream identical
    else:
        timings = load(connection, corpus, args.chunks, args.maintenance_work_mem)
    for name, seconds in timings.items():
        print(f"{name}: {seconds:.1f}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('knowledge_chunk')), "
            "pg_size_pretty(pg_relation_size('kb_chunk_embedding_hnsw')), "
            "pg_size_pretty(pg_relation_size('kb_chunk_search_idx'))"
        )
        table, hnsw, gin = cursor.fetchone()
    print(f"sizes: table+indexes {table}, HNSW {hnsw}, GIN {gin}")

    query_rng = np.random.default_rng(args.seed + 1)
    count = max(args.queries, args.exact_queries)
    topics = query_rng.integers(0, TOPICS, size=count)
    subtopics = query_rng.integers(0, SUBTOPICS, size=count)
    noise = query_rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    noise = NOISE * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    vectors = corpus.centroids[topics] + corpus.offsets[topics, subtopics] + noise
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [
        " ".join(
            [
                *query_rng.choice(corpus.topic_words[topic], size=3, replace=False),
                str(corpus.vocabulary[query_rng.choice(VOCABULARY, p=corpus.zipf)]),
            ]
        )
        for topic in topics
    ]

    sql = "SELECT id FROM knowledge_chunk ORDER BY embedding <=> %s::vector LIMIT %s"

    def top(vector, *, exact: bool, ef_search: int = 40) -> tuple[list[int], float]:
        literal = "[" + ",".join(f"{value:.6f}" for value in vector) + "]"
        with transaction.atomic(), connection.cursor() as cursor:
            if exact:
                cursor.execute("SET LOCAL enable_indexscan = off")
            else:
                cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
            began = time.perf_counter()
            cursor.execute(sql, [literal, args.k])
            ids = [row[0] for row in cursor.fetchall()]
            return ids, (time.perf_counter() - began) * 1000

    print(f"\nexact top-{args.k} (parallel sequential scan) for {args.exact_queries} queries…", flush=True)
    exact_ids, exact_ms = [], []
    for vector in vectors[: args.exact_queries]:
        ids, ms = top(vector, exact=True)
        exact_ids.append(set(ids))
        exact_ms.append(ms)
    print(f"exact: p50 {percentile(exact_ms, 0.5):.0f} ms, p95 {percentile(exact_ms, 0.95):.0f} ms")

    for vector in vectors[
        : args.queries
    ]:  # warm the caches once, untimed, so the first ef_search is not penalised
        top(vector, exact=False, ef_search=40)
    print(f"\n{'ef_search':>9} {'recall@' + str(args.k):>10} {'p50 ms':>8} {'p95 ms':>8}")
    for ef_search in [int(value) for value in args.ef_search.split(",")]:
        recalls, latencies = [], []
        for index, vector in enumerate(vectors[: args.queries]):
            ids, ms = top(vector, exact=False, ef_search=ef_search)
            latencies.append(ms)
            if index < args.exact_queries:
                recalls.append(len(set(ids) & exact_ids[index]) / args.k)
        print(
            f"{ef_search:>9} {statistics.mean(recalls):>10.3f} {percentile(latencies, 0.5):>8.1f} "
            f"{percentile(latencies, 0.95):>8.1f}",
            flush=True,
        )

    agent, _ = User.objects.get_or_create(email="bench.agent@example.com", defaults={"role": Role.AGENT})
    requester, _ = User.objects.get_or_create(email="bench.user@example.com", defaults={"role": Role.USER})
    print(
        f"\nhybrid_search (k={args.k}, ef_search={settings.AI_SEARCH_EF_SEARCH}, "
        f"{settings.AI_SEARCH_CANDIDATES} candidates per ranker), {args.queries} queries:"
    )
    for user in (agent, requester):
        latencies, sizes = [], []
        for text, vector in zip(texts[: args.queries], vectors[: args.queries], strict=True):
            began = time.perf_counter()
            result = hybrid_search(
                user, text, k=args.k, sources=["article"], query_vector=[float(v) for v in vector]
            )
            latencies.append((time.perf_counter() - began) * 1000)
            sizes.append(len(result.hits))
        print(
            f"  {user.get_role_display():>9}: p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p95 {percentile(latencies, 0.95):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
            f"mean hits {statistics.mean(sizes):.1f}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
