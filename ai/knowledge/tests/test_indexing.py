"""The chunk index follows its sources: articles and resolved tickets, via the worker."""

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from ai.knowledge.actions import do_update_article
from ai.knowledge.chunking import article_passages, split_text, ticket_passages
from ai.knowledge.indexing import do_index_source, do_index_sources
from ai.knowledge.models import ArticleStatus, Audience, Chunk, SourceType
from ai.knowledge.tasks import index_source
from tickets.actions import do_transition_ticket, do_update_ticket

pytestmark = pytest.mark.django_db

VPN_BODY = """# Reset your VPN token

When the VPN client says *authentication failed*:

1. Open the self-service portal.
2. Choose **Reset VPN token**.
3. Reconnect with the new token.

## Still failing?

Call the service desk.
"""


def ours(callbacks):
    """Our on-commit callbacks (other apps listen to the same changes)."""
    return [callback for callback in callbacks if getattr(callback, "task", None) == index_source.name]


def index_jobs(**args):
    """Index jobs (of these sources): the jobs table outlives transactional tests, so name them."""
    jobs = ProcrastinateJob.objects.filter(task_name="ai.knowledge.tasks.index_source")
    return jobs.filter(args__contains=args) if args else jobs


# --- chunking ------------------------------------------------------------------------------------
def test_it_cuts_articles_by_section_and_keeps_the_steps():
    passages = article_passages(VPN_BODY)
    assert passages[0].startswith("Reset your VPN token\n\n")
    assert "1. Open the self-service portal." in passages[0]
    assert passages[1] == "Still failing?\n\nCall the service desk."


def test_it_keeps_passages_under_the_size_limit():
    text = "\n\n".join(f"Paragraph {n}. " + "word " * 60 for n in range(20)) + "\n\n" + "x" * 2500
    chunks = split_text(text, max_chars=400)
    assert all(len(chunk) <= 400 for chunk in chunks)
    assert "".join(chunks).count("x") == 2500
    assert ticket_passages("t", "short problem", "restarted it") == [
        "short problem\n\nResolution: restarted it"
    ]


# --- the writer ------------------------------------------------------------------------------------
def test_it_indexes_a_published_article_once_and_only_reembeds_what_changed(make_article, agent):
    article = make_article("VPN token", VPN_BODY)
    chunks = list(Chunk.objects.of_source(SourceType.ARTICLE, article.pk))
    assert [chunk.position for chunk in chunks] == [0, 1]
    assert all(chunk.is_public and chunk.embedding_model == "local:all-MiniLM-L6-v2" for chunk in chunks)
    assert len(chunks[0].embedding) == 384

    again = do_index_source(SourceType.ARTICLE, article.pk)
    assert (again.embedded, again.unchanged, again.deleted) == (0, 2, 0)

    do_update_article(
        article, actor=agent, fields={"body": VPN_BODY.replace("Call the service desk.", "Call 555.")}
    )
    changed = do_index_source(SourceType.ARTICLE, article.pk)
    assert (changed.embedded, changed.unchanged) == (1, 1)
    assert Chunk.objects.get(source_id=article.pk, position=1).text.endswith("Call 555.")


def test_an_audience_change_flips_the_flag_without_embedding_again(make_article, agent):
    article = make_article("VPN token", VPN_BODY)
    do_update_article(article, actor=agent, fields={"audience": Audience.INTERNAL})
    stats = do_index_source(SourceType.ARTICLE, article.pk)
    assert stats.embedded == 0
    assert not Chunk.objects.of_source(SourceType.ARTICLE, article.pk).filter(is_public=True).exists()


def test_drafts_and_unpublished_articles_have_no_chunks(make_article, agent):
    draft = make_article("Draft", VPN_BODY, status=ArticleStatus.DRAFT)
    assert not Chunk.objects.of_source(SourceType.ARTICLE, draft.pk).exists()
    article = make_article("VPN token", VPN_BODY)
    do_update_article(article, actor=agent, fields={"status": ArticleStatus.DRAFT})
    stats = do_index_source(SourceType.ARTICLE, article.pk)
    assert stats.deleted == 2
    assert not Chunk.objects.of_source(SourceType.ARTICLE, article.pk).exists()


def test_resolved_tickets_are_indexed_with_their_resolution_and_dropped_when_reopened(resolved_ticket, agent):
    ticket = resolved_ticket(
        "Printer jams", "The printer on floor 3 jams on every job.", "Replaced the fuser unit."
    )
    (chunk,) = Chunk.objects.of_source(SourceType.TICKET, ticket.pk)
    assert chunk.title == f"{ticket.number} Printer jams"
    assert chunk.text.endswith("Resolution: Replaced the fuser unit.")
    assert not chunk.is_public

    do_transition_ticket(ticket, "open", actor=agent, reason="still jams")
    do_index_source(SourceType.TICKET, ticket.pk)
    assert not Chunk.objects.of_source(SourceType.TICKET, ticket.pk).exists()


def test_sensitive_and_open_tickets_are_never_indexed(resolved_ticket, make_ticket, agent):
    secret = resolved_ticket(
        "Salary export", "HR data", "Fixed the export.", sensitive=True, team=agent.teams.first()
    )
    open_ticket = make_ticket("Still open", description="nothing yet")
    stats = do_index_sources([(SourceType.TICKET, secret.pk), (SourceType.TICKET, open_ticket.pk)])
    assert stats.embedded == 0
    assert not Chunk.objects.filter(source_type=SourceType.TICKET).exists()


def test_an_unknown_source_type_is_refused(minilm):
    with pytest.raises(ValueError, match="No loader"):
        do_index_source("wiki", 1)


# --- when the worker is asked ------------------------------------------------------------------------
def test_saving_an_article_defers_one_index_job_after_commit(
    make_article, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        article = make_article("VPN token", VPN_BODY, index=False)
        do_update_article(article, actor=agent, fields={"title": "VPN token reset"})
    assert len(ours(callbacks)) == 2
    # The second request found the first job still waiting: one job per source (queueing lock).
    (job,) = index_jobs(source_type="article", source_id=article.pk)
    assert job.args == {"source_type": "article", "source_id": article.pk}
    assert job.queue_name == "ai"


def test_nothing_is_deferred_when_the_transaction_rolls_back(
    make_article, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        article = make_article("VPN token", VPN_BODY, index=False)
    assert len(ours(callbacks)) == 1
    assert not index_jobs(
        source_type="article", source_id=article.pk
    ).exists()  # the callback never ran: no commit


def test_resolving_reopening_and_editing_tickets_defer_index_jobs(
    make_ticket, agent, django_capture_on_commit_callbacks
):
    ticket = make_ticket("Printer jams", description="floor 3", actor=agent)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        do_update_ticket(ticket, actor=agent, fields={"title": "Printer jams a lot"})
    assert ours(callbacks) == []  # an open ticket is not in the index
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        do_transition_ticket(ticket, "resolved", actor=agent, resolution="New fuser.")
    assert len(ours(callbacks)) == 1
    ticket.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        do_update_ticket(ticket, actor=agent, fields={"description": "floor 3, tray 2"})
    assert len(ours(callbacks)) == 1


def test_votes_do_not_reindex(make_article, requester, django_capture_on_commit_callbacks):
    article = make_article("VPN token", VPN_BODY)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        article.record_vote(requester, helpful=True)
    assert ours(callbacks) == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_embeds_a_resolved_ticket_and_forgets_it_when_reopened(
    make_ticket, agent, minilm, run_worker
):
    ticket = make_ticket(
        "Outlook keeps asking for a password", description="Since this morning.", actor=agent
    )
    do_transition_ticket(ticket, "resolved", actor=agent, resolution="Cleared the credential manager entry.")
    run_worker(queues=["ai"])
    assert Chunk.objects.of_source(SourceType.TICKET, ticket.pk).count() == 1
    ticket.refresh_from_db()
    do_transition_ticket(ticket, "open", actor=agent, reason="back again")
    run_worker(queues=["ai"])
    assert not Chunk.objects.of_source(SourceType.TICKET, ticket.pk).exists()
    jobs = index_jobs(source_type="ticket", source_id=ticket.pk)
    assert list(jobs.values_list("status", flat=True)) == ["succeeded", "succeeded"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_when_the_embeddings_endpoint_is_down_the_job_waits_and_is_retried(
    settings, fake_openai, make_ticket, agent, run_worker
):
    settings.AI_EMBEDDINGS_PROVIDER = "openai"
    settings.AI_EMBEDDINGS_BASE_URL = fake_openai.base_url
    settings.AI_LLM_RETRIES = 0
    settings.AI_LLM_RETRY_BACKOFF = 0
    ticket = make_ticket("Printer jams", description="floor 3", actor=agent)
    fake_openai.script("embeddings", [503])
    do_transition_ticket(ticket, "resolved", actor=agent, resolution="New fuser.")
    run_worker(queues=["ai"])
    (job,) = index_jobs(source_type="ticket", source_id=ticket.pk)
    assert (job.status, job.attempts) == ("todo", 1)  # scheduled for a retry, not lost
    assert not Chunk.objects.of_source(SourceType.TICKET, ticket.pk).exists()

    # The endpoint is back; bring the retry forward instead of waiting for it.
    index_jobs(source_type="ticket", source_id=ticket.pk).update(scheduled_at=None)
    run_worker(queues=["ai"])
    job.refresh_from_db()
    assert job.status == "succeeded"
    (chunk,) = Chunk.objects.of_source(SourceType.TICKET, ticket.pk)
    assert chunk.embedding_model == "openai:all-MiniLM-L6-v2"
