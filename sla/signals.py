"""What the SLA engine tells the rest of the product (integrations listen for webhooks,
Teams/Slack). Sent inside the sweep's transaction, once per clock and level; listeners with
outside effects defer them with ``transaction.on_commit`` or a task.

kwargs: ``ticket`` (tickets.Ticket), ``clock`` (sla.TicketSLA), ``metric`` (``response`` or
``resolution``), ``due_at`` (aware datetime), ``trace_id`` (uuid str).
"""

from django.dispatch import Signal

sla_at_risk = Signal()
sla_breached = Signal()
# + ``level`` (int), ``step`` (description of the escalation step taken)
sla_escalated = Signal()
