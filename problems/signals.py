"""What the problems app tells the rest of the product (outbound webhooks, chat, AI).

Sent inside the transaction that made the change, after it is written. ``actor`` is a User, or
None for automation (detection).

- ``problem_detected``: detection opened a problem; ``problem``, ``incidents`` (tickets),
  ``trace_id``.
- ``problem_created``: any new problem; ``problem``, ``incidents`` (the tickets it was opened
  with), ``actor``, ``detected`` (True when detection opened it: ``problem_detected`` follows).
- ``incident_linked``: an incident was linked to a problem; ``problem``, ``ticket``, ``link``
  (the ProblemIncident), ``actor``, ``joined`` (True when detection joined it to the problem its cluster belongs to). Not sent
  for the incidents a problem is created with, nor for a link that already existed.
- ``incident_joined``: detection joined an incident to an open problem; ``problem``, ``ticket``
  (sent after ``incident_linked``).
- ``problem_merged``: ``problem`` (the source, now closed as a duplicate) merged into
  ``into``; ``incidents`` (the tickets moved), ``actor``, ``reason``.
- ``problem_status_changed``: ``problem``, ``previous``, ``status``, ``actor``. Not sent for
  the source of a merge (``problem_merged`` says it).
"""

from django.dispatch import Signal

problem_detected = Signal()
problem_created = Signal()
incident_linked = Signal()
incident_joined = Signal()
problem_merged = Signal()
problem_status_changed = Signal()
