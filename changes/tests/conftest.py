from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from changes import actions
from cmdb import actions as cmdb_actions
from conftest import make_user
from itsm.models import Role, Team


@pytest.fixture
def lead(db, team, agent):
    user = make_user("lena.lead@example.com", Role.AGENT, full_name="Lena Lead")
    team.members.add(user)
    team.lead = user
    team.save(update_fields=["lead"])
    return user


@pytest.fixture
def board(db):
    """The change advisory board: three agents."""
    cab = Team.objects.create(name="Change Advisory Board")
    members = [
        make_user(f"cab{index}@example.com", Role.AGENT, full_name=f"Cab {index}") for index in range(3)
    ]
    cab.members.add(*members)
    return members


@pytest.fixture
def item(db):
    return cmdb_actions.do_create_item(actor=None, name="db-01", type="server")


def at(days: int, hour: int) -> datetime:
    """A moment ``days`` from today at ``hour`` o'clock, local time."""
    today = timezone.localdate() + timedelta(days=days)
    return datetime(today.year, today.month, today.day, hour, tzinfo=timezone.get_current_timezone())


@pytest.fixture
def make_change(agent, team):
    """``make_change(title, **fields)``: a change created through the real action, planned
    tomorrow 10:00-12:00 with plans written, unless told otherwise."""

    def make(title: str = "Upgrade the database", *, actor=None, **fields):
        fields.setdefault("planned_start", at(1, 10))
        fields.setdefault("planned_end", at(1, 12))
        fields.setdefault("implementation_plan", "Stop, upgrade, start.")
        fields.setdefault("backout_plan", "Restore the snapshot.")
        fields.setdefault("team", team)
        return actions.do_create_change(actor=actor or agent, title=title, **fields)

    return make
