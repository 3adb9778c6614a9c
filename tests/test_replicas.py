"""Read replicas against a real primary and a real streaming replica (tests/replication.py).

Each test points Django's ``default`` at the primary and adds ``replica_1`` for the replica,
then asserts which server answered by asking that very connection ``pg_is_in_recovery()``.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.cache import cache
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from itsm import replicas
from itsm.models import Role, User
from tests.replication import Replication, start_replication

# transaction=True: the tests write to the primary for real (the replica must see it), and the
# marker has pytest-django make the test database that the primary is copied from.
pytestmark = [pytest.mark.xdist_group("replication"), pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="session")
def replication(django_db_setup, django_db_blocker) -> Replication:
    # Not under pytest's temporary directory: that is private to root, and the servers run as
    # the wheel's system user.
    base = Path(tempfile.mkdtemp(prefix="itsm-replication-"))
    base.chmod(0o755)
    with django_db_blocker.unblock():
        source = dict(connections["default"].settings_dict)
    pair = start_replication(base, source)
    yield pair
    pair.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def replicated(replication, django_db_blocker, settings):
    """``default`` is the primary and ``replica_1`` its streaming replica, for this test."""
    default = connections["default"]
    saved = copy.deepcopy(default.settings_dict)
    with django_db_blocker.unblock():
        default.close()
        default.settings_dict.update(NAME="itsm", HOST=replication.primary_host, PORT="")
        replica = copy.deepcopy(saved)
        replica.update(NAME="itsm", HOST=replication.replica_host, PORT="")
        connections.settings["replica_1"] = replica
        settings.DATABASE_REPLICAS = ["replica_1"]
        settings.DATABASE_REPLICA_MAX_LAG = 5
        replicas.forget_health()
        try:
            yield replication
        finally:
            replicas.forget_health()
            connections["replica_1"].close()
            del connections["replica_1"]
            del connections.settings["replica_1"]
            default.close()
            default.settings_dict.clear()
            default.settings_dict.update(saved)


def in_recovery(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


def agent_named(name: str) -> User:
    # Signed in with force_login: no password needed.
    return User.objects.create_user(email=f"{name}-{uuid.uuid4().hex[:8]}@example.com", role=Role.AGENT)


def new_ticket(title: str, requester: User):
    from tickets.actions import do_create_ticket

    return do_create_ticket(actor=requester, title=title, requester=requester)


def queue_page(client) -> tuple[object, list[str], list[str]]:
    """GET the queue page; the SQL each server ran for it."""
    with (
        CaptureQueriesContext(connections["default"]) as on_primary,
        CaptureQueriesContext(connections["replica_1"]) as on_replica,
    ):
        response = client.get(reverse("tickets:ticket-list"))
    return response, [q["sql"] for q in on_primary], [q["sql"] for q in on_replica]


def ticket_queries(sqls: list[str]) -> list[str]:
    return [sql for sql in sqls if '"tickets_ticket"' in sql and sql.lstrip().upper().startswith("SELECT")]


def test_it_reads_the_queue_from_the_replica(replicated, client):
    agent = agent_named("reader")
    title = f"Replicated printer jam {uuid.uuid4().hex[:6]}"
    new_ticket(title, agent)
    replicated.wait_until_replayed()
    client.force_login(agent)

    response, on_primary, on_replica = queue_page(client)

    assert response.status_code == 200
    assert title in response.content.decode()
    assert ticket_queries(on_replica), "the ticket list was not read from the replica"
    assert not ticket_queries(on_primary)
    assert in_recovery("replica_1") is True
    assert in_recovery("default") is False


def test_it_writes_to_the_primary_and_reads_its_own_writes_there(replicated, client):
    agent = agent_named("writer")
    client.force_login(agent)

    # A write through a real view pins the user to the primary for the configured time …
    response = client.post(reverse("tickets:saved-view-create"), {"name": "Mine", "query": "status=open"})
    assert response.status_code in (200, 302)
    assert replicas.is_pinned(agent.pk)
    response, on_primary, on_replica = queue_page(client)
    assert response.status_code == 200
    assert "Mine" in response.content.decode()
    assert ticket_queries(on_primary) and not ticket_queries(on_replica)
    assert in_recovery("default") is False

    # … and reads from the replica again once that time has passed.
    replicated.wait_until_replayed()
    later = timezone.now() + timedelta(seconds=replicas.settings.DATABASE_REPLICA_PIN_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        response, on_primary, on_replica = queue_page(client)
    assert response.status_code == 200
    assert ticket_queries(on_replica) and not ticket_queries(on_primary)


def test_viewing_a_ticket_and_its_presence_pings_pin_nobody_to_the_primary(replicated, client):
    """The presence ping is written on every ticket view and every 20 s while a page is open:
    bookkeeping, not the agent's change. They read the queue from the replica after it; a
    change of theirs still pins them."""
    agent = agent_named("browser")
    ticket = new_ticket(f"Presence {uuid.uuid4().hex[:6]}", agent)
    replicated.wait_until_replayed()
    client.force_login(agent)
    assert client.get(reverse("tickets:ticket-detail", args=[ticket.pk])).status_code == 200
    ping = client.post(
        reverse("tickets:ticket-presence", args=[ticket.pk]), {"editing": "1"}, HTTP_HX_REQUEST="true"
    )
    assert ping.status_code == 200
    from tickets.models import TicketPresence

    assert TicketPresence.objects.using("default").filter(ticket=ticket, user=agent, editing=True).exists()
    assert not replicas.is_pinned(agent.pk)
    response, on_primary, on_replica = queue_page(client)
    assert response.status_code == 200
    assert ticket_queries(on_replica) and not ticket_queries(on_primary)
    client.post(reverse("tickets:saved-view-create"), {"name": "Mine", "query": "status=open"})
    assert replicas.is_pinned(agent.pk)


def test_it_reads_from_the_primary_after_a_write_in_the_same_work(replicated):
    from tickets.actions import TicketChanges, do_edit_ticket
    from tickets.models import Ticket

    agent = agent_named("editor")
    ticket = new_ticket("Same-request read-your-writes", agent)
    replicated.wait_until_replayed()

    with replicas.reading_from_replica():
        before = Ticket.objects.filter(pk=ticket.pk)
        assert before.db == "replica_1"
        assert before.get().title == "Same-request read-your-writes"
        do_edit_ticket(before.get(), TicketChanges(title="Edited on the primary"), actor=agent)
        after = Ticket.objects.filter(pk=ticket.pk)
        assert after.db == "default"
        assert after.get().title == "Edited on the primary"
    assert in_recovery(after.db) is False


def test_a_lagging_replica_is_skipped(replicated, client, settings):
    agent = agent_named("lagged")
    client.force_login(agent)
    with replicated.replica() as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
    try:
        title = f"Not replayed yet {uuid.uuid4().hex[:6]}"
        new_ticket(title, agent)
        replicated.wait_until_received()
        settings.DATABASE_REPLICA_MAX_LAG = 0  # anything not replayed is too far behind

        response, on_primary, on_replica = queue_page(client)

        assert response.status_code == 200
        assert title in response.content.decode()
        assert ticket_queries(on_primary) and not ticket_queries(on_replica)
    finally:
        with replicated.replica() as replica:
            replica.execute("SELECT pg_wal_replay_resume()")


def test_a_stopped_replica_falls_back_to_the_primary_without_an_error(replicated, client):
    agent = agent_named("fallback")
    title = f"Served while the replica is down {uuid.uuid4().hex[:6]}"
    new_ticket(title, agent)
    replicated.wait_until_replayed()
    client.force_login(agent)
    response, _, on_replica = queue_page(client)  # the replica is healthy, and known to be
    assert ticket_queries(on_replica)

    replicated.stop_replica()
    try:
        # The health answer is still cached: the view meets the dead replica, which is marked
        # down, and runs again on the primary.
        with CaptureQueriesContext(connections["default"]) as on_primary:
            response = client.get(reverse("tickets:ticket-list"))
        assert response.status_code == 200
        assert title in response.content.decode()
        assert ticket_queries([q["sql"] for q in on_primary])

        # The next check finds it down at once and goes straight to the primary.
        replicas.forget_health()
        with CaptureQueriesContext(connections["default"]) as on_primary:
            response = client.get(reverse("tickets:ticket-list"))
        assert response.status_code == 200
        assert ticket_queries([q["sql"] for q in on_primary])
        assert in_recovery("default") is False
    finally:
        replicated.start_replica()
        replicas.forget_health()
    cache.clear()


def test_the_list_cache_keeps_what_the_primary_says_not_a_lagging_replica(replicated, client):
    from itsm.models import Team

    agent = agent_named("lists")
    team = Team.objects.create(name=f"Before {uuid.uuid4().hex[:6]}")
    replicated.wait_until_replayed()
    client.force_login(agent)
    assert team.name in queue_page(client)[0].content.decode()  # the filter bar, kept
    with replicated.replica() as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
    try:
        before = team.name
        team.name = f"After {uuid.uuid4().hex[:6]}"
        team.save()  # a new version of the list cache
        replicated.wait_until_received()

        response, _on_primary, on_replica = queue_page(client)

        assert ticket_queries(on_replica), "the page did not read from the replica"
        html = response.content.decode()
        assert team.name in html and before not in html
    finally:
        with replicated.replica() as replica:
            replica.execute("SELECT pg_wal_replay_resume()")


def test_bookkeeping_keeps_what_the_work_wrote_before_it():
    from itsm.models import Notification

    agent = agent_named("bookkeeper")
    with replicas.tracking_writes() as state:
        with replicas.bookkeeping_writes():
            Notification.objects.create(recipient=agent, verb="x", title="bookkeeping")
        assert state.wrote is False  # bookkeeping alone: still free to read from a replica
        Notification.objects.create(recipient=agent, verb="x", title="a change")
        with replicas.bookkeeping_writes():
            Notification.objects.create(recipient=agent, verb="x", title="more bookkeeping")
        assert state.wrote is True  # the change before it still counts
    with replicas.bookkeeping_writes():  # outside tracked work: nothing to keep
        Notification.objects.create(recipient=agent, verb="x", title="untracked")
