"""Signals of triage's training, for the other AI features that learn from the resolved tickets.

``training_run`` is sent by ``manage.py ai_train`` and the nightly training task once triage's
own models are done, with ``force`` (False: refit only when tickets were resolved since the last
fit) and ``limit`` (newest resolved tickets to read, None for the receiver's setting). A receiver
refits what it calibrates and returns a one-line summary (the command prints it).
"""

from django.dispatch import Signal

training_run = Signal()
