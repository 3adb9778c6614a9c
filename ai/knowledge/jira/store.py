"""Jira issues and comments into ``JiraIssue`` / ``JiraIssueComment``.

The same issue reaches us from the backfill, the reconcile and webhooks, in any order and
possibly twice. So every write happens under a transaction-scoped advisory lock on the issue
id; an issue read older than the ``updated`` already held changes nothing; a comment older
than the one held changes nothing; deleted issues and comments leave tombstones that a late
delivery cannot bring back. Text is converted once here (``rich_to_text``: ADF from the REST
API, wiki markup from webhooks), so the index reads plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ai.knowledge.models import JiraIssue, JiraIssueComment
from integrations.jira.mapper import (
    Account,
    IssueView,
    is_internal_comment,
    parse_jira_datetime,
    rich_to_text,
)

# What the backfill and the reconcile ask of each issue.
KNOWLEDGE_FIELDS = [
    "summary",
    "description",
    "status",
    "resolution",
    "resolutiondate",
    "labels",
    "components",
    "issuetype",
    "priority",
    "project",
    "created",
    "updated",
    "comment",
]


@dataclass
class Stored:
    # created | updated | unchanged | stale | deleted (a tombstone, or just deleted) | missing
    result: str
    issue_id: int

    @property
    def changed(self) -> bool:
        return self.result in ("created", "updated")


def numeric_id(value: Any, what: str = "issue") -> int:
    text = str(value or "").strip()
    if not text.isdigit():
        raise ValueError(f"The Jira {what} id {text!r} is not a number.")
    return int(text)


def lock_issue(issue_id: int) -> None:
    """Serialise the writers of one issue (webhook jobs, backfill, reconcile) until commit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"kb-jira-issue:{issue_id}"])


def issue_values(view: IssueView) -> dict[str, Any]:
    """The columns this reading of the issue says something about (absent fields stay as held)."""
    present = view.present
    values: dict[str, Any] = {"key": view.key[:64], "project_key": view.project_key[:32]}
    if "summary" in present:
        values["summary"] = view.summary[:500]
    if "description" in present:
        values["description"] = view.description.strip()
    if "status" in present:
        values["status"] = view.status[:100]
        values["status_category"] = view.status_category[:20]
    if "resolution" in present:
        values["resolution"] = view.resolution[:100]
    if "resolutiondate" in present:
        values["resolved_at"] = parse_jira_datetime(view.fields.get("resolutiondate"))
    if "issuetype" in present:
        values["issue_type"] = view.issue_type[:100]
    if "priority" in present:
        values["priority"] = view.priority[:100]
    if "labels" in present:
        values["labels"] = [label[:255] for label in view.labels]
    if "components" in present:
        values["components"] = [component[:255] for component in view.components]
    if "created" in present:
        values["jira_created_at"] = view.created
    if view.updated is not None:
        values["jira_updated_at"] = view.updated
    return values


def do_store_issue(issue: dict, *, comments: list[dict] | None = None) -> Stored:
    """Create or update one issue from a Jira reading of it; ``comments``, when given, is its
    complete comment list (comments missing from it were deleted in Jira)."""
    view = IssueView.parse(issue)
    issue_id = numeric_id(view.id)
    values = issue_values(view)
    with transaction.atomic():
        lock_issue(issue_id)
        current = JiraIssue.objects.select_for_update().filter(pk=issue_id).first()
        if current is not None and current.is_deleted:
            return Stored("deleted", issue_id)
        if (
            current is not None
            and view.updated is not None
            and current.jira_updated_at is not None
            and view.updated < current.jira_updated_at
        ):
            return Stored("stale", issue_id)
        now = timezone.now()
        if current is None:
            current = JiraIssue(pk=issue_id, fetched_at=now, **values)
            current.is_resolved = current.resolution != "" or current.status_category == "done"
            current.save(force_insert=True)
            result = "created"
        else:
            changed = [name for name, value in values.items() if getattr(current, name) != value]
            for name in changed:
                setattr(current, name, values[name])
            resolved = current.resolution != "" or current.status_category == "done"
            if resolved != current.is_resolved:
                current.is_resolved = resolved
                changed.append("is_resolved")
            current.fetched_at = now
            current.save(update_fields=[*changed, "fetched_at"])
            result = "updated" if changed else "unchanged"
        if comments is not None and sync_comments(current, comments, read_updated=view.updated):
            result = "updated" if result == "unchanged" else result
        return Stored(result, issue_id)


def sync_comments(issue: JiraIssue, comments: list[dict], *, read_updated: datetime | None) -> bool:
    """Bring the stored comments in line with a complete list; returns whether anything changed.

    A stored comment missing from the list was deleted in Jira, unless it is newer than the
    reading (a webhook stored it after this list was read): then it stays.
    """
    known = {comment.pk: comment for comment in issue.comments.all()}
    seen: set[int] = set()
    changed = False
    for raw in comments:
        try:
            comment_id = numeric_id(raw.get("id"), "comment")
        except ValueError:
            continue
        seen.add(comment_id)
        changed |= upsert_comment(issue, known.get(comment_id), comment_id, raw)
    if read_updated is None:
        return changed
    for comment_id, comment in known.items():
        newer = comment.jira_updated_at is not None and comment.jira_updated_at > read_updated
        if comment_id not in seen and comment.deleted_at is None and not newer:
            tombstone_comment(comment)
            changed = True
    return changed


def upsert_comment(issue: JiraIssue, known: JiraIssueComment | None, comment_id: int, raw: dict) -> bool:
    text = rich_to_text(raw.get("body")).strip()
    internal = is_internal_comment(raw)
    created = parse_jira_datetime(raw.get("created"))
    updated = parse_jira_datetime(raw.get("updated")) or created
    author = Account.parse(raw.get("author")) or Account.parse(raw.get("updateAuthor"))
    author_name = (author.display_name if author else "")[:200]
    if known is None:
        JiraIssueComment.objects.create(
            pk=comment_id,
            issue=issue,
            author=author_name,
            body=text,
            internal=internal,
            jira_created_at=created,
            jira_updated_at=updated,
        )
        return True
    if known.deleted_at is not None:
        return False
    if known.jira_updated_at and updated and updated < known.jira_updated_at:
        return False
    if (known.body, known.internal, known.author) == (text, internal, author_name):
        return False
    known.body, known.internal, known.author = text, internal, author_name
    known.jira_updated_at = updated or known.jira_updated_at
    known.save(update_fields=["body", "internal", "author", "jira_updated_at"])
    return True


def tombstone_comment(comment: JiraIssueComment) -> None:
    comment.deleted_at, comment.body = timezone.now(), ""
    comment.save(update_fields=["deleted_at", "body"])


def do_apply_comment(event: str, comment: dict, issue: dict) -> Stored:
    """A ``comment_created`` / ``comment_updated`` / ``comment_deleted`` delivery.

    ``missing`` when the issue is not stored yet: the caller reads the whole issue first.
    """
    view = IssueView.parse(issue)
    issue_id = numeric_id(view.id)
    comment_id = numeric_id(comment.get("id"), "comment")
    with transaction.atomic():
        lock_issue(issue_id)
        current = JiraIssue.objects.select_for_update().filter(pk=issue_id).first()
        if current is None:
            return Stored("missing", issue_id)
        if current.is_deleted:
            return Stored("deleted", issue_id)
        known = JiraIssueComment.objects.filter(pk=comment_id).first()
        if event == "comment_deleted":
            if known is None:
                # A tombstone, so a comment_created arriving late does not add it.
                JiraIssueComment.objects.create(pk=comment_id, issue=current, deleted_at=timezone.now())
                return Stored("unchanged", issue_id)
            if known.deleted_at is not None:
                return Stored("unchanged", issue_id)
            tombstone_comment(known)
            return Stored("updated", issue_id)
        changed = upsert_comment(current, known, comment_id, comment)
        return Stored("updated" if changed else "unchanged", issue_id)


def do_delete_issue(issue: dict) -> Stored:
    """``jira:issue_deleted``: drop the issue's text and comments, keep a tombstone."""
    view = IssueView.parse(issue)
    issue_id = numeric_id(view.id)
    with transaction.atomic():
        lock_issue(issue_id)
        current = JiraIssue.objects.select_for_update().filter(pk=issue_id).first()
        now = timezone.now()
        if current is None:
            JiraIssue.objects.create(
                pk=issue_id,
                key=view.key[:64],
                project_key=view.project_key[:32],
                deleted_at=now,
                fetched_at=now,
            )
            return Stored("deleted", issue_id)
        if current.is_deleted:
            return Stored("unchanged", issue_id)
        current.comments.all().delete()
        current.deleted_at, current.summary, current.description, current.fetched_at = now, "", "", now
        current.save(update_fields=["deleted_at", "summary", "description", "fetched_at"])
        return Stored("deleted", issue_id)


def do_forget_issue(issue_id: int) -> bool:
    """Remove an issue Jira no longer lists in its project (deleted, or moved away) without a
    tombstone: should it come back (moved into another knowledge project), it is read again."""
    with transaction.atomic():
        lock_issue(issue_id)
        deleted, _ = JiraIssue.objects.filter(pk=issue_id).delete()
    return bool(deleted)
