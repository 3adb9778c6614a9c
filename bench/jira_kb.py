"""Jira issues as knowledge: backfill throughput (issues/s with embeddings) and recall@5 of the
resolution for new tickets, without and with the Jira index.

    .venv/bin/python bench/jira_kb.py [--issues 240] [--tickets 28] [--page-size 50]

Runs against a database of its own (``itsm_bench_jira_kb`` on the embedded PostgreSQL unless
``--database``) and the fake Jira of the tests on 127.0.0.1, loaded with ``--issues`` resolved
issues generated deterministically (``integrations/jira/tests/corpus.py``: 14 problem families,
ADF descriptions with lists, tables, code and mentions, a customer comment, an internal
investigation note and the agent's public fix). The desk's own knowledge is a few articles
and resolved tickets covering some of the families.

1. Without Jira: each new ticket (a requester's paraphrase of a family's problem, in other
   words than the issues) is searched with ``hybrid_search`` as an agent; it counts as found
   when one of the top 5 results carries the fix of its family (an article, a resolved ticket,
   or a Jira issue of that family).
2. ``jira_kb_backfill`` reads the project through the real client and transport over HTTP,
   converts ADF, embeds with the configured provider (local MiniLM by default): issues/s.
3. The same searches with the Jira index.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--issues", type=int, default=240, help="resolved issues in the fake Jira (at least 200)"
    )
    parser.add_argument(
        "--tickets", type=int, default=0, help="new tickets to search (default: 2 per family)"
    )
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE_NAME", "itsm_bench_jira_kb"),
        help="database on the embedded server (created afresh)",
    )
    args = parser.parse_args()
    if args.issues < 1 or args.page_size < 1 or args.k < 1:
        parser.error("--issues, --page-size and --k must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    if os.environ.get("DATABASE_URL"):
        sys.exit(
            "The bench loads data into a database of its own on the embedded server: unset DATABASE_URL."
        )
    from integrations.jira.tests import corpus
    from integrations.jira.tests.fakejira import EMAIL, TOKEN, FakeJira

    jira = FakeJira().start()
    issues, families = corpus.generate_issues(args.issues, project="HIST")
    for issue in issues:
        jira.issues[issue["key"]] = issue
    os.environ.update(
        {
            "EMBEDDED_DATABASE_NAME": args.database,
            "DJANGO_SETTINGS_MODULE": "itsm.settings",
            "DEBUG": "false",
            "JIRA_BASE_URL": jira.url,
            "JIRA_EMAIL": EMAIL,
            "JIRA_API_TOKEN": TOKEN,
            "HF_HUB_OFFLINE": "1",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.setdefault("ITSM_ENV", "development")
    sys.path.insert(0, str(ROOT / "bench"))
    from ai_search import fresh_database

    fresh_database(args.database)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from ai.knowledge.actions import do_create_article
    from ai.knowledge.indexing import do_index_source
    from ai.knowledge.models import ArticleStatus, Audience, Chunk, JiraKnowledgeProject, SourceType
    from ai.knowledge.search import hybrid_search
    from ai.providers.embeddings import load_local_model
    from itsm.models import Role, User
    from tickets.actions import do_create_ticket, do_transition_ticket

    print(
        f"bench database: {settings.DATABASES['default']['NAME']}, cpu cores: {os.cpu_count()}, "
        f"load average: {os.getloadavg()[0]:.1f}, embeddings: {settings.AI_EMBEDDINGS_PROVIDER} "
        f"({settings.AI_EMBEDDINGS_THREADS} torch thread(s))",
        flush=True,
    )
    call_command("migrate", verbosity=0)
    if settings.AI_EMBEDDINGS_PROVIDER == "local":
        load_local_model()
    agent = User.objects.create_user(email="bench.agent@example.com", password=None, role=Role.AGENT)
    requester = User.objects.create_user(email="bench.user@example.com", password=None, role=Role.USER)

    # The desk's own knowledge: a few articles and resolved tickets.
    source_family: dict[tuple[str, int], str] = {}
    for family, title, body in corpus.LOCAL_ARTICLES:
        article = do_create_article(
            actor=agent, title=title, body=body, status=ArticleStatus.PUBLISHED, audience=Audience.INTERNAL
        )
        do_index_source(SourceType.ARTICLE, article.pk)
        source_family[(SourceType.ARTICLE, article.pk)] = family
    for family, title, description, resolution in corpus.LOCAL_TICKETS:
        ticket = do_create_ticket(actor=requester, title=title, description=description, requester=requester)
        do_transition_ticket(ticket, "resolved", actor=agent, resolution=resolution)
        do_index_source(SourceType.TICKET, ticket.pk)
        source_family[(SourceType.TICKET, ticket.pk)] = family
    # The baseline ticket of the VPN family is about printer drivers: a lexical near-miss, not a fix.
    source_family = {key: family for key, family in source_family.items() if not family.startswith("vpn")}
    for issue in issues:
        source_family[(SourceType.JIRA_ISSUE, int(issue["id"]))] = families[issue["key"]]

    tickets = corpus.generate_new_tickets(args.tickets or 2 * len(corpus.FAMILIES))

    def recall() -> tuple[float, float, float]:
        found = 0
        reciprocal = 0.0
        started = time.perf_counter()
        for ticket in tickets:
            hits = hybrid_search(agent, f"{ticket.title}\n{ticket.description}", k=args.k).hits
            ranks = [
                rank
                for rank, hit in enumerate(hits, start=1)
                if source_family.get((hit.source_type, hit.source_id)) == ticket.family
            ]
            if ranks:
                found += 1
                reciprocal += 1 / ranks[0]
        elapsed = (time.perf_counter() - started) * 1000 / len(tickets)
        return found / len(tickets), reciprocal / len(tickets), elapsed

    covered = len({family for key, family in source_family.items() if key[0] != SourceType.JIRA_ISSUE})
    without, mrr_without, ms_without = recall()
    print(
        f"new tickets: {len(tickets)} over {len(corpus.FAMILIES)} problem families; "
        f"local knowledge: {len(corpus.LOCAL_ARTICLES)} articles + {len(corpus.LOCAL_TICKETS)} resolved tickets "
        f"covering {covered} families"
    )
    print(f"without Jira: recall@{args.k} {without:.2f}, MRR {mrr_without:.2f} ({ms_without:.0f} ms/search)")

    JiraKnowledgeProject.objects.create(key="HIST")
    out = StringIO()
    started = time.perf_counter()
    call_command("jira_kb_backfill", "--project", "HIST", "--page-size", str(args.page_size), stdout=out)
    elapsed = time.perf_counter() - started
    chunks = Chunk.objects.filter(source_type=SourceType.JIRA_ISSUE).count()
    print(out.getvalue().strip().splitlines()[-1])
    print(
        f"backfill: {len(issues)} issues, {chunks} chunks in {elapsed:.1f}s: {len(issues) / elapsed:.1f} issues/s "
        f"({len(jira.requests_to('POST', '/rest/api/3/search/jql'))} search pages, "
        f"{len(jira.requests_to('GET', '/rest/api/3/issue/'))} comment reads)"
    )

    with_jira, mrr_with, ms_with = recall()
    print(f"with Jira:    recall@{args.k} {with_jira:.2f}, MRR {mrr_with:.2f} ({ms_with:.0f} ms/search)")
    jira.stop()


if __name__ == "__main__":
    main()
