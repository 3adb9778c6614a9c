"""What the Jira integration tells other apps, so they plug in by listening.

``project_claimed(sender, project_key)``
    Asked by the webhook when a delivery's project is not synchronised to tickets (neither in
    ``JIRA_PROJECT_KEY`` nor accepted in the admin). A receiver that returns ``True`` claims
    the project: its deliveries are verified, stored and processed like the others, but only
    handed to listeners (``delivery_processed`` with ``for_tickets=False``), never turned into
    tickets. Nobody claims it: the delivery is refused with 403, as before.

``delivery_processed(sender, receipt, project_key, for_tickets)``
    Sent by the worker for every stored delivery it processed (``jira:issue_created``,
    ``jira:issue_updated``, ``jira:issue_deleted``, ``comment_created``, ``comment_updated``,
    ``comment_deleted``), whether or not it changed a ticket, inside the transaction that marks
    the receipt processed: a receiver defers its own work there (``defer_once``), so the work is
    queued exactly when the receipt is marked done. ``receipt`` is the ``WebhookReceipt``
    (``event``, ``issue_id``, ``issue_key``, ``payload``); ``for_tickets`` says whether the
    project is synchronised to tickets. A delivery refused as malformed is not sent.
"""

from __future__ import annotations

from django.dispatch import Signal

project_claimed = Signal()
delivery_processed = Signal()


def is_claimed(project_key: str) -> bool:
    """Whether an app listening to ``project_claimed`` wants this project's deliveries."""
    if not project_key:
        return False
    return any(
        answer is True for _receiver, answer in project_claimed.send(sender=None, project_key=project_key)
    )
