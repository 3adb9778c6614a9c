"""What the tickets app tells the rest of the product. Listeners (sla, ai, integrations,
notifications) plug in here; tickets imports none of them.

All are sent inside the transaction that made the change, after the change is written. One
edit (``tickets.actions.do_edit_ticket``) sends each ticket signal at most once, after its
single write: a listener of several of them sees the ticket as the whole edit left it.
A listener that writes rows joins that transaction; a listener with an outside effect
(mail, HTTP) must defer it with ``transaction.on_commit`` or a procrastinate task.

Common kwargs: ``ticket``, ``actor`` (a User or None for automation), ``actor_label``
(``system:jira`` …, empty for people).
"""

from django.dispatch import Signal

ticket_created = Signal()
# + ``previous`` (old status), ``status`` (new status)
ticket_status_changed = Signal()
# + ``previous_assignee``, ``previous_team``
ticket_assigned = Signal()
# + ``previous`` (old priority), ``priority``
ticket_priority_changed = Signal()
# + ``changed`` (list of field names): any edit, including the ones above
ticket_updated = Signal()
# + ``comment``
comment_added = Signal()
# + ``comment`` (as it is now), ``previous_body``, ``previous_internal``
comment_edited = Signal()
# + ``relation``
relation_added = Signal()
# ``ticket`` is a source merged into ``target``; sent once per source, after its conversation
# moved and before it is closed (the SLA app cancels its clocks: neither met nor breached).
ticket_merged = Signal()
