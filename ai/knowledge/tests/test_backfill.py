"""``python manage.py ai_backfill``: batches, progress, resumable, clear errors."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ai.knowledge.models import ArticleStatus, Chunk, SourceType

pytestmark = pytest.mark.django_db


@pytest.fixture
def content(make_article, resolved_ticket):
    articles = [
        make_article(f"Article {n}", f"How to fix problem number {n}.", index=False) for n in range(3)
    ]
    draft = make_article("Draft", "Not yet.", status=ArticleStatus.DRAFT, index=False)
    tickets = [resolved_ticket(f"Ticket {n}", f"Problem {n}", f"Fixed {n}", index=False) for n in range(2)]
    return {"articles": articles, "draft": draft, "tickets": tickets}


def backfill(*args):
    out = StringIO()
    call_command("ai_backfill", *args, stdout=out)
    return out.getvalue()


def sources(source_type):
    return set(Chunk.objects.filter(source_type=source_type).values_list("source_id", flat=True))


def test_it_embeds_existing_content_in_batches_with_progress(content):
    out = backfill("--batch-size", "2")
    assert sources(SourceType.ARTICLE) == {article.pk for article in content["articles"]}
    assert sources(SourceType.TICKET) == {ticket.pk for ticket in content["tickets"]}
    assert "article: 2/3 (66%)" in out and "article: 3/3 (100%)" in out
    assert "ticket: done, 2 sources, 2 passages embedded." in out


def test_it_resumes_where_it_stopped(content):
    backfill("--sources", "article", "--limit", "2")
    assert len(sources(SourceType.ARTICLE)) == 2
    out = backfill("--sources", "article")
    assert "1 to process" in out
    assert sources(SourceType.ARTICLE) == {article.pk for article in content["articles"]}
    assert "0 to process" in backfill("--sources", "article")


def test_force_reembeds_everything_and_orphans_are_removed(content):
    backfill()
    Chunk.objects.filter(source_type=SourceType.ARTICLE).update(text="stale")
    Chunk.objects.create(
        source_type=SourceType.ARTICLE,
        source_id=999999,
        position=0,
        title="gone",
        text="gone",
        embedding=[0.1] * 384,
        embedding_model="local:all-MiniLM-L6-v2",
    )
    out = backfill("--sources", "article", "--force")
    assert "3 passages embedded" in out
    assert not Chunk.objects.filter(text="stale").exists()
    assert 999999 not in sources(SourceType.ARTICLE)


def test_chunks_of_another_embedding_model_are_redone(content):
    backfill("--sources", "ticket")
    Chunk.objects.filter(source_type=SourceType.TICKET).update(embedding_model="openai:old-model")
    assert "2 to process" in backfill("--sources", "ticket")
    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {"local:all-MiniLM-L6-v2"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sources", "wiki"], "Unknown source type"),
        (["--sources", ","], "Unknown source type"),
        (["--batch-size", "0"], "at least 1"),
        (["--limit", "-1"], "cannot be negative"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(content, args, message):
    with pytest.raises(CommandError, match=message):
        backfill(*args)
    assert not Chunk.objects.exists()


def test_a_provider_outage_stops_with_a_clear_error_and_keeps_the_work_done(content, settings, fake_openai):
    settings.AI_EMBEDDINGS_PROVIDER = "openai"
    settings.AI_EMBEDDINGS_BASE_URL = fake_openai.base_url
    settings.AI_LLM_RETRIES = 0
    fake_openai.script("embeddings", [{}, 503])  # the first batch works, the second fails
    with pytest.raises(CommandError, match="run the command again to resume"):
        backfill("--sources", "article", "--batch-size", "2")
    assert len(sources(SourceType.ARTICLE)) == 2
    assert "1 to process" in backfill("--sources", "article")
