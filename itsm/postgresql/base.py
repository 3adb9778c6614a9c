"""Django's PostgreSQL backend, with timestamps read by psycopg's compiled loader.

Django (5.2) reads every ``timestamptz`` through a loader of its own, a subclass of psycopg's
pure-Python one (the compiled loader of ``psycopg[binary]`` cannot be subclassed), so that
it can force the time zone of the result. With ``USE_TZ`` on and no ``TIME_ZONE`` in the
database settings — this product's configuration — Django sets each session to UTC and wants
UTC datetimes, which is exactly what psycopg's own loader returns; the Python one parses
each value in about four microseconds, a millisecond for the 250 timestamps of a queue page
(the SLA clocks of 25 tickets), more on a long ticket's timeline (``bench/queue_page.py``).
This backend hands each cursor psycopg's compiled loader back in that configuration and
leaves Django's in any other. The known issue: Django ticket 36960, psycopg issue 1273.
"""

from __future__ import annotations

import datetime

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg.types.datetime import TimestamptzLoader

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# What psycopg itself reads timestamptz with: the compiled loader when psycopg[binary] (or
# psycopg[c]) is installed, the pure-Python one otherwise.
DEFAULT_LOADER = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name: str | None = None) -> psycopg.Cursor:
        cursor = super().create_cursor(name)
        if self.compiled_timestamps:
            cursor.adapters.register_loader(TIMESTAMPTZ_OID, DEFAULT_LOADER)
        return cursor

    @property
    def compiled_timestamps(self) -> bool:
        """Whether psycopg's compiled loader returns what Django's would: UTC sessions read
        into UTC datetimes (psycopg gives ``datetime.timezone.utc`` for a UTC session)."""
        return (
            DEFAULT_LOADER is not TimestamptzLoader
            and settings.USE_TZ
            and self.timezone is datetime.UTC
            and self.timezone_name == "UTC"
        )
