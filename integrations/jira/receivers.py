"""What the Jira integration listens to: local changes that the linked issue must follow."""

from __future__ import annotations

from integrations.jira import outbound
from tickets import signals


def connect() -> None:
    signals.ticket_created.connect(outbound.on_ticket_created, dispatch_uid="jira-ticket-created")
    signals.comment_added.connect(outbound.on_comment_added, dispatch_uid="jira-comment-added")
    signals.comment_edited.connect(outbound.on_comment_edited, dispatch_uid="jira-comment-edited")
    signals.ticket_status_changed.connect(outbound.on_status_changed, dispatch_uid="jira-status-changed")
