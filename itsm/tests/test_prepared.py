"""Queries written once per process, run with other ids or values (``itsm/lib/prepared.py``)."""

from __future__ import annotations

import datetime
import functools
import threading

import pytest
from django.db import connection
from django.db.models import F

from itsm.lib.prepared import Prepared
from itsm.models import User
from tickets.models import Ticket, Watcher

pytestmark = pytest.mark.django_db


def test_it_builds_the_query_once_and_runs_it_with_each_ids(make_ticket, compiled_models):
    tickets = [make_ticket(f"Ticket {n}") for n in range(3)]
    built = []

    def build(ids):
        built.append(ids)
        return Ticket.objects.filter(pk__any_of=ids).only("title").annotate(doubled=F("id") * 2)

    by_ids = Prepared(build)
    sent = []

    def record(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with compiled_models() as compiled, connection.execute_wrapper(record):
        first = by_ids(ids=[tickets[0].pk, tickets[2].pk])
        second = by_ids(ids=[tickets[1].pk])
        none = by_ids(ids=[])
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
    by_assignee = Prepared(lambda ids: Ticket.objects.filter(assignee__any_of=ids))
    assert [ticket.pk for ticket in by_assignee(ids=[agent.pk])] == [mine.pk]
    assert by_assignee(ids=[requester.pk]) == []


def test_a_query_that_does_not_filter_on_the_ids_is_refused():
    with pytest.raises(ValueError, match=r"must be used in the query: \['ids'\]"):
        Prepared(lambda ids: User.objects.filter(pk__in=[1]))(ids=[1])
    with pytest.raises(TypeError, match="takes a list"):
        list(User.objects.filter(pk__any_of=(1, 2)))


# --- Prepared: any ORM query, with named parameters ---------------------------------------------------
def test_a_prepared_query_is_compiled_once_and_gives_what_the_queryset_gives(
    make_ticket, agent, requester, team, compiled_models, django_assert_num_queries
):
    first = make_ticket("First", assignee=agent, team=team)
    second = make_ticket("Second")
    Watcher.objects.get_or_create(ticket=first, user=agent)
    Watcher.objects.get_or_create(ticket=first, user=requester)
    Watcher.objects.filter(ticket=second).delete()
    built = []

    def build(ticket):
        built.append(ticket)
        return (
            Ticket.objects.filter(pk=ticket)
            .select_related("assignee", "team")
            .only("title", "assignee__full_name", "team__name")
            .prefetch_related("watchers")
            .annotate(doubled=F("id") * 2)
        )

    prepared = Prepared(build)
    # A query and its prefetch for each ticket found; the query alone for none.
    with compiled_models() as compiled, django_assert_num_queries(2 + 2 + 1):
        (one,) = prepared(ticket=first.pk)
        (two,) = prepared(ticket=second.pk)
        assert prepared(ticket=second.pk + 1000) == []
    assert len(built) == 1 and compiled.count(Ticket) == 1  # built and compiled once, run three times
    # What the queryset gives: the related rows, the fields read, the annotation, the prefetch.
    with django_assert_num_queries(0):
        assert (one.title, one.assignee.full_name, one.team.name, one.doubled) == (
            "First",
            "Bob Agent",
            "Service Desk",
            2 * first.pk,
        )
        assert sorted(watcher.user_id for watcher in one.watchers.all()) == sorted([agent.pk, requester.pk])
        assert (two.title, two.assignee, two.team, list(two.watchers.all())) == ("Second", None, None, [])
    assert "description" in one.get_deferred_fields()


def test_a_prepared_query_takes_lists_and_values_and_gives_rows(make_ticket, agent, other_agent, team):
    mine = make_ticket("Mine", assignee=agent)
    theirs = make_ticket("Theirs", assignee=other_agent)
    make_ticket("Nobody's")
    titles = Prepared(
        lambda assignees, since: (
            Ticket.objects.filter(assignee__any_of=assignees, created_at__gte=since)
            .order_by("title")
            .values_list("title", flat=True)
        )
    )
    assert titles(assignees=[agent.pk, other_agent.pk], since=mine.created_at) == ["Mine", "Theirs"]
    assert titles(assignees=[other_agent.pk], since=mine.created_at) == ["Theirs"]
    assert titles(assignees=[agent.pk], since=theirs.created_at + datetime.timedelta(seconds=1)) == []
    assert titles(assignees=[], since=mine.created_at) == []


def test_a_prepared_query_refuses_wrong_parameters():
    prepared = Prepared(lambda pk: User.objects.filter(pk=pk))
    with pytest.raises(TypeError, match=r"takes \['pk'\]"):
        prepared(id=1)
    with pytest.raises(TypeError, match=r"takes \['pk'\]"):
        prepared(pk=1, extra=2)
    unused = Prepared(lambda pk, email: User.objects.filter(pk=pk))
    with pytest.raises(ValueError, match="email"):
        unused(pk=1, email="x")


@pytest.mark.django_db(transaction=True)
def test_threads_run_a_prepared_query_on_their_own_connections(agent):
    from django.db import connection as main_connection

    prepared = Prepared(lambda pk: User.objects.filter(pk=pk).values_list("email", flat=True))
    assert prepared(pk=agent.pk) == [agent.email]  # compiled on this thread
    found, used = [], []

    def read():
        try:
            found.append(prepared(pk=agent.pk))
            used.append(connection.connection)
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [[agent.email]] * 3
    assert main_connection.connection not in used and len(set(map(id, used))) == 3


def test_a_prepared_query_may_name_its_parameters(agent, other_agent):
    def build(field, pk, **others):
        return User.objects.filter(pk=pk, **{f"{name}__isnull": False for name in others}).values_list(
            field, flat=True
        )

    emails = Prepared(functools.partial(build, "email"), params=("pk",))
    names = Prepared(functools.partial(build, "full_name"), params=("pk",))
    assert emails(pk=agent.pk) == [agent.email] and emails(pk=other_agent.pk) == [other_agent.email]
    assert names(pk=agent.pk) == ["Bob Agent"]
    with pytest.raises(TypeError, match=r"takes \['pk'\], not \['id'\]"):
        emails(id=agent.pk)
