"""What the problems app tells the rest of the product.

kwargs: ``problem`` (problems.Problem), ``incidents`` (list of tickets.Ticket), ``trace_id``.
"""

from django.dispatch import Signal

problem_detected = Signal()
# A new incident joined an open problem by detection; kwargs ``problem``, ``ticket``.
incident_joined = Signal()
