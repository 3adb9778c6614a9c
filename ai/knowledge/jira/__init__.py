"""Jira issues as knowledge: the issues of the knowledge projects (``JiraKnowledgeProject``) are
read into ``JiraIssue`` rows and indexed as ``jira_issue`` chunks.

- ``store``: an issue or a comment as Jira describes it (REST v3 with ADF, or a webhook
  delivery in wiki markup) → ``JiraIssue`` / ``JiraIssueComment``; idempotent and order-safe.
- ``sync``: the backfill (``jira_kb_backfill``) and the periodic reconcile: search pages
  through the Jira client, stored and embedded a page at a time, with a resumable cursor.
- Webhooks: the Jira integration announces each processed delivery
  (``integrations.jira.signals.delivery_processed``); ``ai.knowledge.receivers`` queues
  ``ai.knowledge.tasks.apply_jira_delivery`` for those of knowledge projects.
"""
