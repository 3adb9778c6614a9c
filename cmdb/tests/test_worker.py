"""Extraction runs in the worker, deferred once when the ticket's transaction commits."""

from __future__ import annotations

import pytest
from django.db import transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from cmdb import actions
from cmdb.models import ItemSuggestion
from tickets.actions import do_assign_ticket, do_create_ticket, do_update_ticket

pytestmark = pytest.mark.django_db(transaction=True)


def extraction_jobs():
    return ProcrastinateJob.objects.filter(task_name__endswith="extract_ticket_items")


def test_a_new_ticket_is_read_by_the_worker_after_commit(requester, run_worker):
    actions.do_create_item(actor=None, name="web01", type="server")
    ticket = do_create_ticket(actor=requester, title="web01 is down", description="since 9:00")
    assert extraction_jobs().filter(status="todo").count() == 1
    run_worker(queues=["cmdb"])
    assert extraction_jobs().get().status == "succeeded"
    assert [s.item.name for s in ItemSuggestion.objects.filter(ticket=ticket)] == ["web01"]


def test_nothing_is_queued_when_the_ticket_rolls_back(requester):
    with pytest.raises(RuntimeError), transaction.atomic():
        do_create_ticket(actor=requester, title="web01 is down")
        raise RuntimeError("the request failed after the ticket was written")
    assert not extraction_jobs().exists()


def test_edits_of_the_text_queue_one_run_and_other_edits_none(requester, agent, run_worker):
    actions.do_create_item(actor=None, name="web02", type="server")
    ticket = do_create_ticket(actor=requester, title="slow", description="")
    run_worker(queues=["cmdb"])
    with transaction.atomic():
        do_update_ticket(ticket, actor=agent, fields={"description": "web02 is slow"})
        do_update_ticket(ticket, actor=agent, fields={"title": "very slow"})
    assert extraction_jobs().filter(status="todo").count() == 1  # one run reads both edits
    do_assign_ticket(ticket, actor=agent, assignee=agent)
    assert extraction_jobs().filter(status="todo").count() == 1
    run_worker(queues=["cmdb"])
    assert [s.item.name for s in ItemSuggestion.objects.filter(ticket=ticket)] == ["web02"]


def test_the_setting_turns_extraction_off(requester, settings):
    settings.CMDB_EXTRACTION_ENABLED = False
    do_create_ticket(actor=requester, title="web01 is down")
    assert not extraction_jobs().exists()
