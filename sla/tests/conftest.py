from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from sla.models import Calendar, SLAPolicy

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def clock_at():
    """``with clock_at(dt):`` freezes time at ``dt`` (time_machine, no ticking)."""

    def travel(moment: datetime):
        return time_machine.travel(moment, tick=False)

    return travel


@pytest.fixture(autouse=True)
def _sla_defaults(request):
    """The defaults of migration 0002 (a transactional test elsewhere may have flushed them)."""
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        from sla.defaults import ensure_defaults

        ensure_defaults()


@pytest.fixture
def policies(db):
    """The default policies of the data migration, by priority."""
    return {policy.priority: policy for policy in SLAPolicy.objects.filter(name__endswith="(default)")}


@pytest.fixture
def calendar_24x7(db) -> Calendar:
    return Calendar.objects.get(builtin=True)
