"""An agent's emailed reply is the desk's first response: the SLA response clock stops.

Through the chain: raw mail to the inbound door, the ticket's conversation, the SLA API, and
the sweep run after the response was due.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from sla.defaults import ensure_defaults
from sla.models import SLAEvent
from sla.sweep import run_sweep
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a medium ticket: 2 hours to respond


def mail(name: str, **replace: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    for old, new in replace.items():
        data = data.replace(old.encode(), new.encode())
    return data


def response_clock(client, ticket):
    clocks = client.get(f"/api/sla/ticket/{ticket.pk}/").json()["clocks"]
    return next(clock for clock in clocks if clock["metric"] == "response")


@pytest.mark.parametrize(("sender", "answered"), [("agent", True), ("requester", False)])
def test_an_agents_emailed_reply_stops_the_response_clock(
    request, admin_user, api_for, requester, sender, answered
):
    ensure_defaults()
    author = request.getfixturevalue(sender)
    door = api_for(admin_user)
    with time_machine.travel(T0, tick=False):
        response = door.generic(
            "POST", "/api/integrations/email/inbound/", mail("new_ticket.eml"), content_type="message/rfc822"
        )
    assert response.status_code == 201, response.json()
    ticket = Ticket.objects.get()
    reply = mail(
        "reply_subject_token.eml",
        TICKET_NUMBER=ticket.number,
        **{'"Dave Requester" <Dave.User@Example.com>': f'"{author.full_name}" <{author.email}>'},
    )
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        response = door.generic(
            "POST", "/api/integrations/email/inbound/", reply, content_type="message/rfc822"
        )
        assert response.json()["status"] == "replied"
        clock = response_clock(door, ticket)
    assert clock["status"] == ("completed" if answered else "ok")
    ticket.refresh_from_db()
    assert ticket.first_response_at == (T0 + timedelta(minutes=10) if answered else None)

    with time_machine.travel(T0 + timedelta(hours=3), tick=False):  # past the 2-hour response target
        run_sweep(risk=False)
        clock = response_clock(door, ticket)
    breaches = SLAEvent.objects.filter(clock__ticket=ticket, clock__metric="response", kind="breach")
    assert (breaches.count(), clock["status"]) == ((0, "completed") if answered else (1, "breached"))
