"""Jira down for 10 minutes while an agent's reply and a status change wait to be pushed
(docs/scaling.md "Faults").

The fake Jira on 127.0.0.1 closes its port (connections refused), the real worker runs the push
job's attempts over a simulated 10 minutes (itsm/tests/outage.py: the clock jumps to each retry's
due time, as ``JiraRetry`` set it), Jira comes back on the same port: the comment is posted once and
the transition made once.
"""

from __future__ import annotations

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from integrations.jira.models import ChangeState, OutboundChange
from integrations.jira.tasks import RETRY
from itsm.tests.outage import live_through
from tickets.actions import do_add_comment, do_transition_ticket
from tickets.models import Ticket

TEN_MINUTES = 600

PUSH = "integrations.jira.tasks.push_ticket"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_reply_and_a_transition_wait_through_ten_minutes_of_jira_down_and_happen_once(
    clean_queue, fake_jira, mappings, make_ticket, agent, run_worker
):
    ticket = make_ticket("VPN down")
    run_worker(queues=["jira"])
    assert Ticket.objects.get(pk=ticket.pk).external_key == "ITSUP-1"
    since = ProcrastinateJob.objects.order_by("-id").values_list("id", flat=True).first()

    fake_jira.down()
    do_add_comment(ticket, actor=agent, body="The certificate is renewed, please reconnect.")
    do_transition_ticket(ticket, "resolved", actor=agent, resolution="Certificate renewed")
    seen_before = len(fake_jira.requests)

    def back() -> None:
        assert len(fake_jira.requests) == seen_before  # nothing reached Jira meanwhile
        assert not OutboundChange.objects.filter(state=ChangeState.DONE, kind__in=["comment", "transition"])
        fake_jira.up()

    outage = live_through(
        run_worker,
        "jira",
        seconds=TEN_MINUTES,
        back=back,
        since_job=since,
        task_names=(PUSH,),  # not the periodic reconcile, requeue and SLA sync of the queue
    )

    print(
        f"\nJira down {TEN_MINUTES} s: attempts at "
        + "; ".join(f"job {job}: {times}" for job, times in outage.attempts.items())
        + f" s (simulated), back at {outage.back_at} s"
    )
    assert outage.back_at is not None, "the push stopped retrying before Jira came back"
    assert max(len(times) for times in outage.attempts.values()) < RETRY.max_attempts  # none gave up
    assert len(fake_jira.requests_to("POST", "/rest/api/3/issue/ITSUP-1/comment")) == 1
    (transition,) = fake_jira.requests_to("POST", "/rest/api/3/issue/ITSUP-1/transitions")
    assert transition.body == {"transition": {"id": "761"}}
    assert fake_jira.issues["ITSUP-1"]["fields"]["status"]["name"] == "Resolved"
    (comment,) = fake_jira.issues["ITSUP-1"]["fields"]["comment"]["comments"]
    assert "certificate is renewed" in str(comment["body"])
    assert set(OutboundChange.objects.values_list("state", flat=True)) == {ChangeState.DONE}
    assert not ProcrastinateJob.objects.filter(id__gt=since, task_name=PUSH, status__in=["todo", "failed"])

    run_worker(queues=["jira"])  # a later run sends nothing twice
    assert len(fake_jira.requests_to("POST", "/rest/api/3/issue/ITSUP-1/comment")) == 1
    assert len(fake_jira.requests_to("POST", "/rest/api/3/issue/ITSUP-1/transitions")) == 1
