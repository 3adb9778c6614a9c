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

:class:`Prepared` does the same for any query of the ORM with named parameters
(``Param("ticket")`` where a value goes), and runs it through the ORM's own compiler: the
results are what the queryset gives, ``select_related`` rows, ``only()``, annotations and
``prefetch_related`` lookups included. The ticket page reads a ticket's watchers, work log,
presence, survey and files this way (``tickets/views/detail.py``).
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Expression, Field, ForeignObject, Lookup, Model, QuerySet
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
        if isinstance(self.rhs, Param):  # a list given when a prepared query runs
            return f"{lhs} = ANY(%s)", [*lhs_params, _Slot(self.rhs.name)]
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

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self.build = build
        parameters = inspect.signature(build).parameters.values()
        # Its parameters without a default (one with a default is bound when it is defined).
        self.names = frozenset(
            parameter.name for parameter in parameters if parameter.default is parameter.empty
        )
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

    @property
    def model(self) -> type[Model]:
        return (self._compiled or self._compile())[0].model

    def __call__(self, **values: Any) -> list[Any]:
        if set(values) != self.names:
            raise TypeError(f"{self.build.__name__} takes {sorted(self.names)}, not {sorted(values)}")
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
