"""ORM queries written once per process and run again with other ids.

The rows of the queue table and their SLA clocks are read by id on every view of the queue
(every agent's table polls every 30 seconds). Their queries never change but the ids, yet
Django builds their SQL anew each time: for the rows with the names they show (six
subqueries) about as long as PostgreSQL takes to run them (``bench/queue_page.py``). A
:class:`ByIds` query is built by the ORM once, the first time it is needed, from a function
that takes the ids; then only its ids change (``= ANY(%s)``, one array parameter, so the SQL
text is the same for 1 or 100 ids) and it runs as a raw query of the same model: model
instances, deferred fields and annotations as the queryset would give (or plain rows, for a
query of values), routed for reads like any other (``itsm/replicas.py``).

Only for a query whose shape depends on nothing but the ids: not on the user, the language,
the time or settings read at request time (what the function reads is read once).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Field, ForeignObject, Lookup, QuerySet
from django.db.models.query import RawQuerySet


class _Marker(list):
    """Stands for the ids while the query is built (the ORM copies a list of values, keeping
    its type: the marker's type finds the parameter again)."""


class AnyOf(Lookup):
    """``field__any_of=[…]``: ``field = ANY(%s)`` with the list as one array parameter."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if not isinstance(self.rhs, list):
            raise TypeError("any_of takes a list")
        return f"{lhs} = ANY(%s)", [*lhs_params, self.rhs]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # a foreign key's own lookups are its related lookups


class ByIds:
    """``build(ids)`` returns the queryset (filtered with ``…__any_of=ids``); ``ByIds(build)(ids)``
    runs it with other ids without building it again."""

    def __init__(self, build: Callable[[list[int]], QuerySet]) -> None:
        self.build = build
        self._compiled: tuple[Any, str, list[Any], int] | None = None
        self._lock = threading.Lock()

    def _compile(self) -> tuple[Any, str, list[Any], int]:
        with self._lock:
            if self._compiled is None:
                queryset = self.build(_Marker([0]))
                sql, params = queryset.query.sql_with_params()
                places = [index for index, param in enumerate(params) if type(param) is _Marker]
                if len(places) != 1:
                    raise ValueError("The query must filter on the ids once, with __any_of")
                self._compiled = (queryset.model, sql, list(params), places[0])
            return self._compiled

    def _with(self, ids: Sequence[int]) -> tuple[Any, str, list[Any]]:
        model, sql, params, place = self._compiled or self._compile()
        params = list(params)
        params[place] = list(ids)
        return model, sql, params

    def __call__(self, ids: Sequence[int]) -> RawQuerySet:
        """The model's instances the query selects."""
        model, sql, params = self._with(ids)
        return model._default_manager.raw(sql, params)

    def rows(self, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """The rows as tuples, for a query of values (``values_list``, a count): PostgreSQL's
        values, without the fields' conversions."""
        model, sql, params = self._with(ids)
        with connections[router.db_for_read(model)].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
