"""Deferring a job once: duplicates are dropped, a rollback queues nothing, commit decides."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from itsm.lib.tasks import defer_once, defer_once_on_commit
from itsm.models import Notification
from itsm.tasks import send_notification_email

TASK = "itsm.tasks.send_notification_email"


def jobs(lock: str):
    return ProcrastinateJob.objects.filter(task_name=TASK, queueing_lock=lock)


@pytest.mark.django_db
def test_it_queues_one_job_and_drops_the_duplicate_while_it_waits():
    first = defer_once(send_notification_email, lock="test-once-1", notification_id=1)
    second = defer_once(send_notification_email, lock="test-once-1", notification_id=2)
    assert isinstance(first, int)
    assert second is None
    (job,) = jobs("test-once-1")
    assert (job.id, job.args, job.status, job.lock) == (first, {"notification_id": 1}, "todo", None)
    # The refused duplicate left the caller's transaction usable.
    assert Notification.objects.count() == 0


@pytest.mark.django_db
def test_a_started_job_no_longer_holds_its_lock():
    first = defer_once(send_notification_email, lock="test-once-2", notification_id=1)
    ProcrastinateJob.objects.filter(pk=first).update(status="doing")
    assert defer_once(send_notification_email, lock="test-once-2", notification_id=1) is not None
    assert jobs("test-once-2").count() == 2


@pytest.mark.django_db
def test_it_schedules_and_serialises_when_asked():
    at = timezone.now() + timedelta(minutes=5)
    defer_once(send_notification_email, lock="test-once-3", schedule_at=at, serial=True, notification_id=1)
    (job,) = jobs("test-once-3")
    assert (job.scheduled_at, job.lock) == (at, "test-once-3")


@pytest.mark.django_db(transaction=True)
def test_inside_the_transaction_a_rollback_queues_nothing_and_a_commit_queues_once():
    with pytest.raises(RuntimeError), transaction.atomic():
        assert defer_once(send_notification_email, lock="test-once-4", notification_id=1) is not None
        raise RuntimeError("the change failed after the job was deferred")
    assert not jobs("test-once-4").exists()

    with transaction.atomic():
        defer_once(send_notification_email, lock="test-once-4", notification_id=1)
        # Written in this transaction: another connection (a worker) does not see it yet.
        assert _jobs_seen_by_another_connection("test-once-4") == 0
        assert defer_once(send_notification_email, lock="test-once-4", notification_id=1) is None
    assert _jobs_seen_by_another_connection("test-once-4") == 1


@pytest.mark.django_db(transaction=True)
def test_on_commit_a_rollback_queues_nothing_and_a_commit_queues_once():
    with pytest.raises(RuntimeError), transaction.atomic():
        defer_once_on_commit(send_notification_email, lock="test-once-5", notification_id=1)
        raise RuntimeError("the change failed")
    assert not jobs("test-once-5").exists()

    with transaction.atomic():
        defer_once_on_commit(send_notification_email, lock="test-once-5", notification_id=1)
        defer_once_on_commit(send_notification_email, lock="test-once-5", notification_id=1)
        assert not jobs("test-once-5").exists()  # nothing before the commit
    (job,) = jobs("test-once-5")
    assert job.args == {"notification_id": 1}

    # Outside a transaction it is deferred at once, and still only while none waits.
    defer_once_on_commit(send_notification_email, lock="test-once-5", notification_id=1)
    assert jobs("test-once-5").count() == 1


def test_the_on_commit_callback_names_what_it_defers(django_capture_on_commit_callbacks, db):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        defer_once_on_commit(send_notification_email, lock="test-once-6", serial=True, notification_id=7)
    (callback,) = callbacks
    assert (callback.task, callback.lock, callback.arguments) == (
        send_notification_email,
        "test-once-6",
        {"notification_id": 7},
    )
    assert not jobs("test-once-6").exists()


def _jobs_seen_by_another_connection(lock: str) -> int:
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other, other.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND queueing_lock = %s",
            [TASK, lock],
        )
        return cursor.fetchone()[0]
