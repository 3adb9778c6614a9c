"""What approvals tell their consumers. The app that asked for an approval listens and acts on
its target (runs the execution, moves the change on, releases the catalog request).

Sent inside the transaction that made the change, after it is written: a listener that writes
rows joins that transaction (a failure rolls the decision back too); a listener with an outside
effect (mail, HTTP) defers it with ``transaction.on_commit`` or a procrastinate task.

Common kwargs: ``approval`` (the ApprovalRequest), ``target`` (its object, None if deleted).
"""

from django.dispatch import Signal

# A new request; + ``actor`` (who asked, or None for automation).
approval_requested = Signal()
# One approver decided (the request may still be pending); + ``decision``, ``actor``.
decision_recorded = Signal()
# The request reached its outcome; + ``outcome`` (approved, rejected, expired, cancelled) and
# ``actor`` (the approver whose decision settled it, who cancelled it, or None for expiry).
approval_decided = Signal()
