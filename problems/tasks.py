from procrastinate.contrib.django import app

from problems.actions import do_detect_recurrences, do_join_similar_incidents


@app.periodic(cron="*/15 * * * *", periodic_id="problem-detection")
@app.task(queue="default", queueing_lock="problem-detection", pass_context=False)
def detect_recurrences(timestamp: int | None = None) -> None:
    """Every 15 minutes: new incidents similar to an open problem's join it; new clusters of
    similar incidents open problems or wait as candidates (idempotent)."""
    do_join_similar_incidents(actor=None)
    do_detect_recurrences(actor=None)
