"""New tickets are triaged by a real worker after commit; the nightly retraining is periodic."""

import pytest
from django.db import transaction
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from ai.triage import predict
from ai.triage.models import MessageSentiment, TriageResult
from itsm.models import Organisation, User
from tickets.actions import do_add_comment, do_create_ticket, do_transition_ticket
from tickets.models import Category


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    predict.forget_cached_bundle()
    yield
    predict.forget_cached_bundle()


def jobs(task_suffix):
    return ProcrastinateJob.objects.filter(task_name__endswith=task_suffix)


@pytest.mark.django_db(transaction=True)
def test_a_new_ticket_is_triaged_by_the_worker_after_commit(run_worker):
    Category.objects.create(name="Network", keywords="vpn")
    requester = User.objects.create_user(email="r@example.com", password="x-pass-123", role="user")
    ticket = do_create_ticket(actor=requester, title="VPN is down", description="vpn error 809")
    assert jobs("triage_ticket").filter(status="todo").count() == 1
    assert jobs("score_sentiment").filter(status="todo").count() == 1
    run_worker()
    assert jobs("triage_ticket").get().status == "succeeded"
    assert TriageResult.objects.filter(ticket=ticket, field="category").get().method == "rules"
    assert MessageSentiment.objects.filter(ticket=ticket, comment__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_nothing_is_deferred_when_the_creation_rolls_back():
    requester = User.objects.create_user(email="r@example.com", password="x-pass-123", role="user")
    with pytest.raises(RuntimeError), transaction.atomic():
        do_create_ticket(actor=requester, title="VPN is down")
        raise RuntimeError("the request failed after the ticket was written")
    assert not ProcrastinateJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_requester_reply_is_scored_by_the_worker(run_worker):
    organisation = Organisation.objects.create(name="BigCorp", tier="enterprise")
    requester = User.objects.create_user(
        email="r@example.com", password="x-pass-123", role="user", organisation=organisation
    )
    agent = User.objects.create_user(email="a@example.com", password="x-pass-123", role="agent")
    ticket = do_create_ticket(actor=requester, title="Printer", description="toner please")
    do_add_comment(ticket, actor=agent, body="On it.")
    reply = do_add_comment(
        ticket, actor=requester, body="Unacceptable! Still broken, useless, I am furious!!!"
    )
    run_worker()
    row = MessageSentiment.objects.get(comment=reply)
    assert row.label == "very_negative"
    ticket.refresh_from_db()
    assert "attention" in ticket.tags
    assert not MessageSentiment.objects.filter(comment__author=agent).exists()


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_job_changes_nothing_twice(run_worker):
    from ai.triage.tasks import triage_ticket

    Category.objects.create(name="Network", keywords="vpn")
    requester = User.objects.create_user(email="r@example.com", password="x-pass-123", role="user")
    ticket = do_create_ticket(actor=requester, title="VPN is down")
    run_worker()
    before = set(TriageResult.objects.filter(ticket=ticket).values_list("pk", "status"))
    assert before
    triage_ticket.defer(ticket_id=ticket.pk)  # the same job again (a retry, a second worker)
    run_worker()
    assert set(TriageResult.objects.filter(ticket=ticket).values_list("pk", "status")) == before
    assert set(jobs("triage_ticket").values_list("status", flat=True)) == {"succeeded"}


@pytest.mark.django_db(transaction=True)
def test_the_nightly_training_trains_when_tickets_were_resolved(run_worker):
    from ai.triage.models import TriageModel, TriageSettings
    from ai.triage.tasks import train_triage_models
    from ai.triage.tests.conftest import NETWORK_TEXTS, PRINTING_TEXTS

    settings_row = TriageSettings.load()
    settings_row.min_training_tickets = 10
    settings_row.save()
    network = Category.objects.create(name="Network")
    printing = Category.objects.create(name="Printing")
    requester = User.objects.create_user(email="r@example.com", password="x-pass-123", role="user")
    for texts, category in ((NETWORK_TEXTS, network), (PRINTING_TEXTS, printing)):
        for title, description in texts * 2:
            ticket = do_create_ticket(
                actor=None, requester=requester, title=title, description=description, category=category
            )
            do_transition_ticket(ticket, "resolved", actor=None, resolution="done", actor_label="system:test")
    ProcrastinateJob.objects.all().delete()  # only the training job below
    train_triage_models.defer(timestamp=0)
    run_worker()
    assert TriageModel.objects.active().get().training_rows["category"] == 24


def test_the_training_is_periodic():
    periodic = {task.periodic_id: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["ai-triage-train"].cron == "30 2 * * *"


@pytest.mark.django_db(transaction=True)
def test_a_failed_triage_waits_and_is_retried(run_worker, monkeypatch):
    from django.db import OperationalError

    from ai.triage import tasks

    Category.objects.create(name="Network", keywords="vpn")
    requester = User.objects.create_user(email="r@example.com", password="x-pass-123", role="user")
    real = tasks.do_triage_ticket

    def down(ticket):
        raise OperationalError("the database went away")

    monkeypatch.setattr(tasks, "do_triage_ticket", down)
    ticket = do_create_ticket(actor=requester, title="VPN is down")
    run_worker(queues=["ai"])
    job = jobs("triage_ticket").get()
    assert job.status == "todo" and job.attempts == 1 and job.scheduled_at is not None  # the retry waits
    assert not TriageResult.objects.filter(ticket=ticket).exists()

    monkeypatch.setattr(tasks, "do_triage_ticket", real)
    ProcrastinateJob.objects.filter(pk=job.pk).update(scheduled_at=None)  # its time has come
    run_worker(queues=["ai"])
    assert jobs("triage_ticket").get().status == "succeeded"
    assert TriageResult.objects.filter(ticket=ticket, field="category").exists()
