"""What the configuration database tells the rest of the product (problems, changes, runbooks,
integrations listen; cmdb imports none of them).

Sent inside the transaction that made the change: a listener that writes rows joins it; one
with an outside effect defers it with ``transaction.on_commit`` or a task.

kwargs: ``link`` (the TicketItem), ``ticket``, ``item``, ``actor`` (None for automation).
"""

from django.dispatch import Signal

ticket_item_linked = Signal()
ticket_item_unlinked = Signal()
