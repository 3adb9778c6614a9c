"""Jira webhook deliveries of knowledge projects, applied by the worker.

The Jira integration stores and processes every delivery (``WebhookReceipt``) and announces
it with ``integrations.jira.signals.delivery_processed``; ``ai.knowledge.receivers`` queues
``apply_jira_delivery`` for those of an enabled knowledge project, whether or not the project
is also synchronised to tickets. Applying reads the stored payload:

- ``jira:issue_created`` / ``jira:issue_updated``: the issue's fields (wiki markup), newer than held;
- ``jira:issue_deleted``: tombstone, chunks removed;
- ``comment_created`` / ``comment_updated`` / ``comment_deleted``: that comment. A comment on an
  issue not stored yet loads the whole issue first (``GET /rest/api/3/issue/{key}``) when the
  REST credentials are set, else stores what the delivery carries (the reconcile completes it).

then re-indexes the issue (``index_source``, after commit).
"""

from __future__ import annotations

import logging

from django.db import transaction

from ai.knowledge.jira.store import (
    KNOWLEDGE_FIELDS,
    Stored,
    do_apply_comment,
    do_delete_issue,
    do_store_issue,
)
from ai.knowledge.jira.sync import complete_comments
from ai.knowledge.models import JiraKnowledgeProject, SourceType
from ai.knowledge.queueing import schedule_index
from integrations.jira import client as jira_client
from integrations.jira.inbound.apply import COMMENT_EVENTS, DELETE_EVENT, ISSUE_EVENTS
from integrations.jira.mapper import IssueView
from integrations.jira.models import WebhookReceipt
from integrations.jira.transport import JiraNotFound

logger = logging.getLogger(__name__)


def is_knowledge_project(project_key: str) -> bool:
    return (
        bool(project_key) and JiraKnowledgeProject.objects.enabled().filter(key=project_key.upper()).exists()
    )


def do_apply_delivery(receipt_id: int) -> str:
    """Applies one stored delivery to the knowledge issue it names; says what it did."""
    receipt = WebhookReceipt.objects.filter(pk=receipt_id).first()
    if receipt is None:
        return "gone"
    payload = receipt.payload if isinstance(receipt.payload, dict) else {}
    issue = payload.get("issue")
    if not is_knowledge_project(IssueView.project_of(issue)):
        return "not a knowledge project"
    event = receipt.event
    try:
        if event in ISSUE_EVENTS:
            stored = do_store_issue(issue)
        elif event == DELETE_EVENT:
            stored = do_delete_issue(issue)
        elif event in COMMENT_EVENTS:
            stored = apply_comment_delivery(event, payload.get("comment"), issue)
        else:
            return f"{event} is not handled"
    except (ValueError, TypeError) as error:
        # Malformed for us (the integration accepted it): nothing to retry.
        logger.warning("Jira knowledge: delivery %s refused: %s", receipt_id, error)
        return f"refused: {error}"
    with transaction.atomic():
        schedule_index(SourceType.JIRA_ISSUE, stored.issue_id)
    return f"{stored.result} {receipt.issue_key}"


def apply_comment_delivery(event: str, comment: object, issue: dict) -> Stored:
    if not isinstance(comment, dict):
        raise ValueError("The delivery has no comment.")
    stored = do_apply_comment(event, comment, issue)
    if stored.result != "missing":
        return stored
    # The issue is new to us: read it whole when we can (its fields and every comment).
    if jira_client.is_configured():
        view = IssueView.parse(issue)
        client = jira_client.JiraClient()
        try:
            full = client.get_issue(view.key, fields=",".join(KNOWLEDGE_FIELDS))
        except JiraNotFound:
            logger.info("Jira knowledge: %s is gone; nothing to store", view.key)
            return Stored("unchanged", stored.issue_id)
        do_store_issue(full, comments=complete_comments(client, full))
    else:
        do_store_issue(issue)
    # The delivery's own comment too (Jira's search may not show it yet; applying it twice changes nothing).
    do_apply_comment(event, comment, issue)
    return Stored("created", stored.issue_id)
