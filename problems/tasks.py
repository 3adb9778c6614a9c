from procrastinate.contrib.django import app

from problems.actions import do_detect_recurrences


@app.periodic(cron="*/15 * * * *", periodic_id="problem-detection")
@app.task(queue="default", queueing_lock="problem-detection", pass_context=False)
def detect_recurrences(timestamp: int | None = None) -> None:
    """Every 15 minutes: open problems for new clusters of similar incidents (idempotent)."""
    do_detect_recurrences(actor=None)
