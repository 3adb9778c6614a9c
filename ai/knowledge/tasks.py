"""Background work of the knowledge base: keep the chunk index in step with its sources, and
the Jira knowledge projects in step with Jira."""

from __future__ import annotations

import logging

from procrastinate import RetryDecision, RetryStrategy
from procrastinate.contrib.django import app

from ai.knowledge.indexing import do_index_source, do_index_sources
from ai.knowledge.jira.deliveries import do_apply_delivery
from ai.knowledge.jira.sync import backfill_in_worker, reconcile_due_projects
from ai.knowledge.models import JiraIssue, SourceType
from ai.providers import ProviderUnavailable
from integrations.jira.tasks import JiraRetry
from integrations.jira.transport import JiraUnavailable

logger = logging.getLogger(__name__)

# An embeddings endpoint that is down makes the job fail; it is retried after 3, 9, 27 … seconds
# … 59,049 seconds (about a day in all) and the chunks catch up when the provider is back.
INDEX_RETRY = RetryStrategy(max_attempts=10, exponential_wait=3)


@app.task(queue="ai", pass_context=False, retry=INDEX_RETRY)
def index_source(source_type: str, source_id: int) -> None:
    """(Re-)embeds one source's chunks, or removes them when it should no longer be indexed."""
    stats = do_index_source(source_type, source_id)
    logger.info("indexed %s:%s embedded=%s deleted=%s", source_type, source_id, stats.embedded, stats.deleted)


# --- Jira issues as knowledge ---------------------------------------------------------------------
class JiraKnowledgeRetry(JiraRetry):
    """The Jira integration's backoff (30 s doubling, at least ``Retry-After``), for Jira and
    database failures and an unavailable embeddings provider alike."""

    def get_retry_decision(self, *, exception: BaseException, job: object) -> RetryDecision | None:
        if isinstance(exception, ProviderUnavailable):
            exception = JiraUnavailable(str(exception))
        return super().get_retry_decision(exception=exception, job=job)


JIRA_RETRY = JiraKnowledgeRetry()


@app.task(queue="ai", pass_context=False, retry=JIRA_RETRY)
def apply_jira_delivery(receipt_id: int) -> str:
    """Brings a knowledge issue in line with a processed Jira delivery, then re-indexes it."""
    return do_apply_delivery(receipt_id)


@app.periodic(cron="* * * * *", periodic_id="kb-jira-reconcile")
@app.task(queue="ai", queueing_lock="kb-jira-reconcile", pass_context=False)
def reconcile_jira_knowledge(timestamp: int | None = None) -> dict:
    """Every JIRA_KB_RECONCILE_INTERVAL_SECONDS, each loaded knowledge project reads what changed."""
    return reconcile_due_projects()


@app.task(queue="ai", pass_context=False, retry=JIRA_RETRY)
def backfill_jira_project(project_key: str) -> dict:
    """The admin's "Load from Jira": the backfill of one project, resuming an interrupted one."""
    return backfill_in_worker(project_key)


@app.task(queue="ai", pass_context=False, retry=INDEX_RETRY)
def index_jira_project(project_key: str) -> dict:
    """Re-indexes a knowledge project's stored issues (enabled: chunks come back; disabled or
    removed: they go), in batches."""
    ids = list(JiraIssue.objects.filter(project_key=project_key).order_by("pk").values_list("pk", flat=True))
    embedded = deleted = 0
    for start in range(0, len(ids), 64):
        stats = do_index_sources([(SourceType.JIRA_ISSUE, pk) for pk in ids[start : start + 64]])
        embedded, deleted = embedded + stats.embedded, deleted + stats.deleted
    return {"issues": len(ids), "embedded": embedded, "deleted": deleted}
