"""What the runbook worker tells listeners (sent outside any transaction, after the step's
claim or result is committed).

kwargs: ``execution`` (RunbookExecution), ``step`` (ExecutionStep); ``step_finished`` adds
``failed`` (bool).
"""

from django.dispatch import Signal

step_started = Signal()
step_finished = Signal()
