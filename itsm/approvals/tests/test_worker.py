"""Mail to approvers leaves after commit through the real worker; the expiry runs as a task."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from itsm.approvals.models import ApprovalRequest, ApprovalStatus
from itsm.approvals.tasks import expire_approvals

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_approver_gets_a_mail_with_their_own_link_after_commit(
    client, ask, lead, other_agent, run_worker
):
    other_agent.language = "fr"
    other_agent.save()
    approval = ask([lead, other_agent], summary="Restart payroll on app01", details="Queue stuck since 9:00")
    assert mail.outbox == []  # nothing leaves inside the transaction
    run_worker(queues=["notifications"])
    messages = {message.to[0]: message for message in mail.outbox}
    assert set(messages) == {lead.email, other_agent.email}
    english = messages[lead.email]
    assert english.subject == "Approval requested: Restart payroll on app01"
    assert "Bob Agent asks for your approval of INC-" in english.body
    assert "Queue stuck since 9:00" in english.body
    [link] = re.findall(r"http://\S+/approvals/link/\S+/", english.body)
    assert link != re.findall(r"http://\S+/approvals/link/\S+/", messages[other_agent.email].body)[0]
    assert messages[other_agent.email].subject == "Approbation demandée : Restart payroll on app01"
    # The link opens the approval for its approver only.
    path = link.split("127.0.0.1:8000", 1)[-1]
    client.force_login(lead)
    assert f'data-testid="approve-{approval.pk}"' in client.get(path).content.decode()
    client.force_login(other_agent)
    assert client.get(path).status_code == 403


def test_a_rolled_back_request_mails_nobody(ask, lead, run_worker):
    with pytest.raises(RuntimeError), transaction.atomic():
        ask([lead])
        raise RuntimeError("the consumer failed")
    assert not ProcrastinateJob.objects.filter(task_name__endswith="send_notification_email").exists()
    run_worker(queues=["notifications"])
    assert mail.outbox == [] and not ApprovalRequest.objects.exists()


def test_the_expiry_task_expires_lapsed_requests(ask, lead, run_worker):
    approval = ask([lead], expires_at=timezone.now() + datetime.timedelta(minutes=30))
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=1)):
        job_id = expire_approvals.defer()
        run_worker(queues=["approvals"])
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.EXPIRED
    # The job asked for ran (the worker's periodic deferrer may queue the next minute's beside it).
    assert ProcrastinateJob.objects.get(pk=job_id).status == "succeeded"
