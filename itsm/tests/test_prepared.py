"""Queries written once per process, run with other ids (``itsm/lib/prepared.py``)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import F

from itsm.lib.prepared import ByIds
from itsm.models import User
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_it_builds_the_query_once_and_runs_it_with_each_ids(make_ticket, compiled_models):
    tickets = [make_ticket(f"Ticket {n}") for n in range(3)]
    built = []

    def build(ids):
        built.append(ids)
        return Ticket.objects.filter(pk__any_of=ids).only("title").annotate(doubled=F("id") * 2)

    by_ids = ByIds(build)
    sent = []

    def record(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with compiled_models() as compiled, connection.execute_wrapper(record):
        first = list(by_ids([tickets[0].pk, tickets[2].pk]))
        second = list(by_ids([tickets[1].pk]))
        none = list(by_ids([]))
    assert len(built) == 1 and compiled == [Ticket]  # the query written once, then run three times
    assert len(sent) == 3 and len(set(sent)) == 1 and "= ANY(%s)" in sent[0]
    assert sorted(ticket.title for ticket in first) == ["Ticket 0", "Ticket 2"]
    assert [(ticket.title, ticket.doubled) for ticket in second] == [("Ticket 1", 2 * tickets[1].pk)]
    assert none == []
    # The instances are the model's, with the fields not read deferred.
    assert isinstance(second[0], Ticket) and "description" in second[0].get_deferred_fields()


def test_it_filters_on_a_foreign_key(make_ticket, agent, requester):
    mine = make_ticket("Mine", assignee=agent)
    make_ticket("Nobody's")
    by_assignee = ByIds(lambda ids: Ticket.objects.filter(assignee__any_of=ids))
    assert [ticket.pk for ticket in by_assignee([agent.pk])] == [mine.pk]
    assert list(by_assignee([requester.pk])) == []


def test_a_query_that_does_not_filter_on_the_ids_is_refused():
    with pytest.raises(ValueError, match="__any_of"):
        ByIds(lambda ids: User.objects.filter(pk__in=ids))([1])
    with pytest.raises(TypeError, match="takes a list"):
        list(User.objects.filter(pk__any_of=(1, 2)))
