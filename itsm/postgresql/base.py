"""Django's PostgreSQL backend, with timestamps read by psycopg's compiled loader and queries
prepared once per connection.

Django (5.2) reads every ``timestamptz`` through a loader of its own, a subclass of psycopg's
pure-Python one (the compiled loader of ``psycopg[binary]`` cannot be subclassed), so that
it can force the time zone of the result. With ``USE_TZ`` on and no ``TIME_ZONE`` in the
database settings — this product's configuration — Django sets each session to UTC and wants
UTC datetimes, which is exactly what psycopg's own loader returns; the Python one parses
each value in about four microseconds, a millisecond for the 250 timestamps of a queue page
(the SLA clocks of 25 tickets), more on a long ticket's timeline (``bench/queue_page.py``).
This backend hands each cursor psycopg's compiled loader back in that configuration and
leaves Django's in any other. The known issue: Django ticket 36960, psycopg issue 1273.

Prepared statements: with Django's ``server_side_binding`` (set in settings unless
``DATABASE_PREPARED_STATEMENTS=false``) parameters travel apart from the SQL, and psycopg
prepares a query its connection has run ``prepare_threshold`` times: PostgreSQL then skips its
parsing and planning, which for a join of five tables by primary key (the ticket page's
ticket) takes ten times as long as running it. One kind of statement cannot be bound on the
server: several statements in one string, which is how ``django-pghistory`` hands an audited
change its context (``SELECT set_config(…); UPDATE …``). :class:`Cursor` binds those on the
client, as Django's default cursor does every query.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg.types.datetime import TimestamptzLoader

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# What psycopg itself reads timestamptz with: the compiled loader when psycopg[binary] (or
# psycopg[c]) is installed, the pure-Python one otherwise.
DEFAULT_LOADER = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)


# A semicolon followed by more than blanks: a second statement (or a semicolon in a literal,
# which client-side binding, Django's default, handles as well).
SEVERAL_STATEMENTS = re.compile(r";\s*\S")


class Cursor(base.ServerBindingCursor):
    """Django's server-side binding cursor, binding a string of several statements on the client."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ):
        if (
            params is not None
            and isinstance(query, str | bytes)
            and SEVERAL_STATEMENTS.search(query if isinstance(query, str) else query.decode())
        ):
            query = psycopg.ClientCursor(self.connection).mogrify(query, params)
            return super().execute(query, None, prepare=False, binary=binary)
        return super().execute(query, params, prepare=prepare, binary=binary)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if params.get("cursor_factory") is base.ServerBindingCursor:
            params["cursor_factory"] = Cursor
        return params

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
