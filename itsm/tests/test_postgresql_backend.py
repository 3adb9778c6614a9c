"""The database backend reads timestamps with psycopg's compiled loader where that gives what
Django's own loader gives (``itsm/postgresql/base.py``), and keeps Django's everywhere else."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader, register_tzloader
from django.test import override_settings
from psycopg.types.datetime import TimestamptzLoader

from itsm.postgresql.base import DEFAULT_LOADER, TIMESTAMPTZ_OID, DatabaseWrapper

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
