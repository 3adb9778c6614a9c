"""KPI changes_causing_incidents: closed changes with an incident on one of their items during
their window (+ 4 hours), the change page's "perhaps caused by it" rule in SQL."""

from datetime import timedelta

import pytest
from django.utils import timezone

from changes import actions
from changes.tests.conftest import at
from cmdb import actions as cmdb_actions
from cmdb.models import TicketItem
from itsm import kpis
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

NAMES = ["changes_closed", "changes_causing_incidents"]


def close(change, agent):
    for status in ("assess", "authorize", "implement", "review"):
        change = actions.do_transition_change(change, status, actor=agent)
    return actions.do_transition_change(change, "closed", actor=agent, outcome="successful")


def incident_on(make_ticket, item, created_at, **fields):
    ticket = make_ticket("db-01 slow", **fields)
    TicketItem.objects.create(ticket=ticket, item=item)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=created_at)
    return ticket


def test_it_counts_closed_changes_with_an_incident_on_their_items_in_their_window(
    make_change, make_ticket, agent, item, team, other_team
):
    other_item = cmdb_actions.do_create_item(actor=None, name="web-01", type="server")
    # Window tomorrow 10:00-12:00: incidents count from 10:00 until 16:00.
    during = make_change("Patch db-01", type="standard", affected_items=[item])
    late = make_change("Patch db-01 again", type="standard", affected_items=[item])
    before = make_change("Patch web-01", type="standard", affected_items=[other_item], team=other_team)
    quiet = make_change("Patch nothing", type="standard", affected_items=[other_item])
    open_change = make_change("Still open", type="standard", affected_items=[item])
    incident_on(make_ticket, item, at(1, 11))  # during the window of db-01's changes
    incident_on(make_ticket, other_item, at(1, 9))  # before web-01's window: not caused
    make_ticket("Printer").item_links.create(item=other_item)  # now: long after the window
    Ticket.objects.filter(title="Printer").update(created_at=at(1, 17))
    # A request on the item is not an incident.
    incident_on(make_ticket, item, at(1, 11), type="service_request")
    late.planned_start, late.planned_end = at(1, 5), at(1, 6)  # its grace ends at 10:00: too early
    late.save(update_fields=["planned_start", "planned_end"])
    for change in (during, late, before, quiet):
        close(change, agent)
    assert open_change.status == "draft"
    now = timezone.now()
    result = kpis.compute(NAMES, now - timedelta(hours=1), now + timedelta(minutes=1), user=None)
    assert result.value("changes_closed") == 4
    assert result.value("changes_causing_incidents") == 1
    by_team = kpis.compute(NAMES, now - timedelta(hours=1), now + timedelta(minutes=1), "team", user=None)
    assert {row.label: row.values["changes_causing_incidents"] for row in by_team.rows} == {
        team.name: 1,
        other_team.name: 0,
    }
    # Within four hours of the end counts: the late change's window moved to 08:00-10:00 now
    # covers the 11:00 incident.
    late.planned_start, late.planned_end = at(1, 8), at(1, 10)
    late.save(update_fields=["planned_start", "planned_end"])
    assert (
        kpis.compute(NAMES, now - timedelta(hours=1), now + timedelta(minutes=1), user=None).value(
            "changes_causing_incidents"
        )
        == 2
    )
    earlier = kpis.compute(NAMES, now - timedelta(days=3), now - timedelta(days=2), user=None)
    assert earlier.value("changes_causing_incidents") == 0
