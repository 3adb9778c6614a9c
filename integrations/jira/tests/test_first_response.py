"""A Jira agent's public reply is the desk's first response: the local SLA response clock stops.

Through the whole chain: a signed delivery to the webhook, the real worker, the SLA API, and
the sweep run after the response was due.
"""

import copy
from datetime import UTC, timedelta

import pytest
import time_machine
from django.utils import timezone

from integrations.jira.tests.conftest import payload
from integrations.jira.tests.fakejira import fixture
from sla.defaults import ensure_defaults
from sla.models import SLAEvent
from sla.sweep import run_sweep
from tickets.models import Ticket

RESPONSE_TARGET = timedelta(minutes=30)  # a High issue: the default High policy


def jira_time(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def comment_delivery(at, *, account_type: str, public: bool = True) -> dict:
    data = copy.deepcopy(fixture("jira-webhook-comment-created.json"))
    comment = data["comment"]
    comment["created"] = comment["updated"] = jira_time(at)
    comment["jsdPublic"] = public
    for who in ("author", "updateAuthor"):
        comment[who]["accountType"] = account_type
    return data


def response_clock(client, ticket):
    clocks = client.get(f"/api/sla/ticket/{ticket.pk}/").json()["clocks"]
    return next(clock for clock in clocks if clock["metric"] == "response")


def breaches(ticket):
    return SLAEvent.objects.filter(clock__ticket=ticket, clock__metric="response", kind="breach").count()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("account_type", "public", "answered"),
    [
        ("atlassian", True, True),  # a Jira agent answers the customer
        ("customer", True, False),  # the customer writes again: nobody answered yet
        ("atlassian", False, False),  # an agent's internal comment is no answer either
    ],
)
def test_a_jira_agents_public_reply_stops_the_response_clock_for_good(
    deliver, mappings, run_worker, agent, api_for, account_type, public, answered
):
    ensure_defaults()
    opened = (timezone.now() - timedelta(minutes=10)).replace(microsecond=0)
    issue = payload("jira-webhook-issue-created.json", created=jira_time(opened), updated=jira_time(opened))
    assert deliver(issue).status_code == 202
    replied = opened + timedelta(minutes=5)
    assert deliver(comment_delivery(replied, account_type=account_type, public=public)).status_code == 202
    run_worker(queues=["jira"])

    ticket = Ticket.objects.get(external_key="ITSUP-42")
    assert ticket.comments.count() == 1
    client = api_for(agent)
    clock = response_clock(client, ticket)
    assert clock["status"] == ("completed" if answered else "ok")
    assert ticket.first_response_at == (replied if answered else None)

    # The sweep, run after the response was due, pages nobody about an answered ticket.
    with time_machine.travel(opened + RESPONSE_TARGET + timedelta(minutes=5), tick=False):
        run_sweep(risk=False)
        clock = response_clock(client, ticket)
    assert breaches(ticket) == (0 if answered else 1)
    assert clock["status"] == ("completed" if answered else "breached")
