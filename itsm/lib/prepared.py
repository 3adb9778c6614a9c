"""ORM queries written once per process and run again with other values.

Django builds a query's SQL anew on every call. For the queries of the busiest pages that took
as long as PostgreSQL takes to run them, or longer: the queue's rows with the six names they
show, the ticket page's ticket with its five related rows (``bench/queue_page.py``). A
:class:`Prepared` query is built and compiled by the ORM once, the first time it is needed,
from a function that takes its parameters, with a :class:`Param` where each value goes
(``filter(ticket_id=ticket)``, or ``…__any_of=ids`` for a list: ``= ANY(%s)``, one array, so the
SQL text is the same for 1 or 100 ids). Then only the values change, and it runs through the
ORM's own compiler: the results are what the queryset gives (model instances with their
``select_related`` rows, ``only()`` fields, annotations and ``prefetch_related`` lookups, or
the rows of ``values_list``), routed for reads like any other query (``itsm/replicas.py``).
The same SQL text is also what lets PostgreSQL keep the statement prepared
(``itsm/postgresql/base.py``).

Only for a read whose shape depends on nothing but its parameters: not on the user, the
language, the time or settings read at request time (what the function reads is read once). A
shape that depends on the user gets one query per kind of user (the ticket page's ticket: one
per kind of visibility rule, ``TicketQuerySet.visibility_rule``).
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Expression, Field, ForeignObject, Lookup, QuerySet


class AnyOf(Lookup):
    """``field__any_of=[…]``: ``field = ANY(%s)`` with the list (or the :class:`Param` of a
    prepared query) as one array parameter."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if isinstance(self.rhs, Param):  # a list given when a prepared query runs
            rhs, rhs_params = self.rhs.as_sql(compiler, connection)
            return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]
        if not isinstance(self.rhs, list):
            raise TypeError("any_of takes a list")
        return f"{lhs} = ANY(%s)", [*lhs_params, self.rhs]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # a foreign key's own lookups are its related lookups


class _Slot:
    """A parameter's place in the compiled query's parameters."""

    def __init__(self, name: str) -> None:
        self.name = name


class Param(Expression):
    """Where a value of a :class:`Prepared` query goes: ``filter(ticket_id=Param("ticket"))``.
    Compiles to one placeholder, whatever lookup or expression it stands in."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s", [_Slot(self.name)]


class Prepared:
    """``build(**params)`` returns the queryset, with a :class:`Param` of each name where its
    value goes; ``Prepared(build)(ticket=…)`` runs its SQL, compiled the first time, with these
    values and returns the list the queryset would give. Read-only queries, routed for reads."""

    def __init__(self, build: Callable[..., QuerySet], *, params: Iterable[str] | None = None) -> None:
        self.build = build
        if params is None:
            # The function's parameters without a default (one with a default is bound when it
            # is defined).
            parameters = inspect.signature(build).parameters.values()
            params = (parameter.name for parameter in parameters if parameter.default is parameter.empty)
        self.names = frozenset(params)
        self._compiled: tuple[QuerySet, Any, str, list[Any], dict[str, list[int]]] | None = None
        self._lock = threading.Lock()

    def _compile(self) -> tuple[QuerySet, Any, str, list[Any], dict[str, list[int]]]:
        with self._lock:
            if self._compiled is None:
                queryset = self.build(**{name: Param(name) for name in self.names})
                compiler = queryset.query.get_compiler(using=DEFAULT_DB_ALIAS)
                sql, params = compiler.as_sql()
                places: dict[str, list[int]] = {}
                for index, param in enumerate(params):
                    if type(param) is _Slot:
                        places.setdefault(param.name, []).append(index)
                if set(places) != self.names:
                    raise ValueError(
                        f"Each parameter must be used in the query: {sorted(self.names - set(places))}"
                    )
                self._compiled = (queryset, compiler, sql, list(params), places)
            return self._compiled

    def __call__(self, **values: Any) -> list[Any]:
        if set(values) != self.names:
            raise TypeError(f"The query takes {sorted(self.names)}, not {sorted(values)}")
        queryset, compiler, sql, params, places = self._compiled or self._compile()
        params = list(params)
        for name, indexes in places.items():
            for index in indexes:
                params[index] = values[name]
        alias = router.db_for_read(queryset.model)
        # The compiler as set up for the first run, on this thread's connection of the database
        # read from; the SQL as written then, with these values.
        run_compiler = copy.copy(compiler)
        run_compiler.connection = connections[alias]
        run_compiler.using = alias
        run_compiler.as_sql = lambda *args, **kwargs: (sql, params)
        run = queryset.using(alias)
        run.query.get_compiler = lambda *args, **kwargs: run_compiler
        return list(run)
