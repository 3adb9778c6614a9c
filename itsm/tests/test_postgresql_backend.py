"""The database backend reads timestamps with psycopg's compiled loader where that gives what
Django's own loader gives (``itsm/postgresql/base.py``), and keeps Django's everywhere else;
it prepares a query run again on its connection, and binds several statements on the client."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import zoneinfo

import pghistory
import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import BaseTzLoader, register_tzloader
from django.test import override_settings
from psycopg.types.datetime import TimestamptzLoader

from itsm.models import User
from itsm.postgresql.base import DEFAULT_LOADER, TIMESTAMPTZ_OID, Cursor, DatabaseWrapper
from tickets.models import TicketAudit

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
MOMENTS = [
    datetime.datetime(2026, 12, 6, 16, 41, 3, 123456, tzinfo=datetime.UTC),
    datetime.datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=datetime.UTC),  # Paris changes its clocks
    datetime.datetime(2026, 10, 25, 3, 30, tzinfo=PARIS),  # and back
    datetime.datetime(
        1969, 12, 31, 23, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=-9, minutes=-30))
    ),
    datetime.datetime(2, 1, 2, 0, 0, tzinfo=datetime.UTC),  # far from now, both ways (in every zone)
    datetime.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=datetime.UTC),
]


def read(cursor) -> list[datetime.datetime]:
    cursor.execute("SELECT unnest(%s::timestamptz[])", [MOMENTS])
    return [row[0] for row in cursor.fetchall()]


def test_the_product_runs_on_the_backend():
    assert connection.settings_dict["ENGINE"] == "itsm.postgresql"
    assert connection.vendor == "postgresql"


def test_a_cursor_reads_timestamps_with_psycopgs_compiled_loader():
    assert DEFAULT_LOADER is not TimestamptzLoader  # psycopg[binary] is what requirements.txt installs
    assert connection.compiled_timestamps
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, 0)
        assert loader is DEFAULT_LOADER
        assert not issubclass(loader, BaseTzLoader)


def test_it_reads_the_same_instants_in_utc_as_djangos_loader():
    with connection.cursor() as cursor:
        compiled = read(cursor)
    with connection.cursor() as cursor:
        register_tzloader(connection.timezone, cursor.cursor)  # what Django does for another zone
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, 0) is not DEFAULT_LOADER
        django = read(cursor)
    assert compiled == django == MOMENTS
    assert [moment.tzinfo for moment in compiled] == [datetime.UTC] * len(MOMENTS)
    assert [moment.utcoffset() for moment in compiled] == [moment.utcoffset() for moment in django]


def test_a_model_reads_utc_datetimes(agent):
    agent.refresh_from_db()
    assert agent.date_joined.tzinfo is datetime.UTC


@pytest.mark.parametrize(
    ("time_zone", "use_tz"), [("Europe/Paris", True), (None, False)], ids=["database-zone", "naive"]
)
def test_django_keeps_its_loader_where_psycopgs_would_differ(time_zone, use_tz):
    # A database TIME_ZONE (sessions in that zone) or USE_TZ off (naive datetimes): Django's
    # loader replaces the zone of each value, which psycopg's does not.
    with override_settings(USE_TZ=use_tz):
        wrapper = DatabaseWrapper(  # a second connection of the same database, its own settings
            {**connection.settings_dict, "TIME_ZONE": time_zone}, alias="default"
        )
        assert not wrapper.compiled_timestamps
        try:
            with wrapper.cursor() as cursor:
                loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, 0)
                assert issubclass(loader, BaseTzLoader)
                values = read(cursor)
        finally:
            wrapper.close()
    if use_tz:
        assert values == MOMENTS and {value.tzinfo for value in values} == {PARIS}
    else:
        local = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        assert values == [moment.astimezone(local).replace(tzinfo=None) for moment in MOMENTS]


# --- prepared statements -----------------------------------------------------------------------------
def prepared_statements(cursor) -> list[str]:
    cursor.execute(
        "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%itsm_prepared_probe%"]
    )
    return [statement for (statement,) in cursor.fetchall()]


def test_a_query_run_again_is_prepared_once_on_its_connection():
    assert connection.features.uses_server_side_binding
    assert (
        connection.settings_dict["OPTIONS"]["prepare_threshold"]
        == settings.PREPARED_OPTIONS["prepare_threshold"]
    )
    with connection.cursor() as cursor:
        assert type(cursor.cursor) is Cursor
        runs = settings.PREPARED_OPTIONS["prepare_threshold"]
        for number in range(runs):
            cursor.execute("SELECT %s::int + 1 AS itsm_prepared_probe", [number])
            assert cursor.fetchone() == (number + 1,)
        assert prepared_statements(cursor) == []  # run as often as the threshold: not yet
        for number in range(3):
            cursor.execute("SELECT %s::int + 1 AS itsm_prepared_probe", [number])
            assert cursor.fetchone() == (number + 1,)
        # One statement, with its parameter bound by PostgreSQL, whatever the value.
        assert prepared_statements(cursor) == ["SELECT $1::int + 1 AS itsm_prepared_probe"]


def test_the_orm_runs_prepared_queries(agent):
    for _ in range(settings.PREPARED_OPTIONS["prepare_threshold"] + 1):
        assert User.objects.filter(pk=agent.pk).values_list("email", flat=True).get() == agent.email
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
            ['SELECT "itsm_user"."email" % FROM "itsm_user" WHERE %'],
        )
        assert cursor.fetchall() == [
            ('SELECT "itsm_user"."email" AS "email" FROM "itsm_user" WHERE "itsm_user"."id" = $1 LIMIT 21',)
        ]


def test_several_statements_in_one_string_are_bound_on_the_client():
    sql = "SELECT set_config('itsm.probe', %s, true); SELECT current_setting('itsm.probe')"
    with connection.cursor() as cursor:
        cursor.execute(sql, ["a; b"])
        assert cursor.nextset()
        assert cursor.fetchone() == ("a; b",)
    # What PostgreSQL answers the same string bound on the server.
    raw = psycopg.Cursor(connection.connection)
    with pytest.raises(psycopg.errors.SyntaxError, match="multiple commands"), transaction.atomic():
        raw.execute(sql, ["a; b"])


def test_an_audited_change_keeps_its_context(make_ticket, agent):
    ticket = make_ticket()
    with pghistory.context(actor_id=agent.pk, actor="Ada", reason="probe"):
        ticket.status = "in_progress"
        ticket.save()
    change = TicketAudit.objects.filter(pgh_obj=ticket).order_by("pgh_id").last()
    assert change.pgh_context["reason"] == "probe"
    assert change.status == "in_progress"


def test_prepared_statements_can_be_turned_off():
    options = {
        key: value
        for key, value in connection.settings_dict["OPTIONS"].items()
        if key not in settings.PREPARED_OPTIONS
    }
    wrapper = DatabaseWrapper({**connection.settings_dict, "OPTIONS": options}, alias="default")
    try:
        assert not wrapper.features.uses_server_side_binding
        with wrapper.cursor() as cursor:
            assert isinstance(cursor.cursor, psycopg.ClientCursor)
            for number in range(10):
                cursor.execute("SELECT %s::int + 1 AS itsm_prepared_probe", [number])
                assert cursor.fetchone() == (number + 1,)
            assert prepared_statements(cursor) == []
    finally:
        wrapper.close()


def test_the_setting_turns_them_off(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(sorted(settings.DATABASES['default']['OPTIONS']))"
    )
    shown = {}
    for value in ("true", "false"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=settings.BASE_DIR,
            env={
                **os.environ,
                "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
                "ITSM_VAR_DIR": str(tmp_path),
                "DJANGO_SETTINGS_MODULE": "itsm.settings",
                "DATABASE_PREPARED_STATEMENTS": value,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        shown[value] = result.stdout.strip()
    assert shown == {
        "true": "['connect_timeout', 'prepare_threshold', 'server_side_binding']",
        "false": "['connect_timeout']",
    }
