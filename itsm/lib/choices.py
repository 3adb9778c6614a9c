"""Choice labels without rebuilding the choices on every call.

Django's generated ``get_FOO_display()`` builds a dict of the field's choices each time it is
called, hashing every (lazily translated) label, which translates them all: 3 ms per 25 rows of
the queue table, a sixth of its rendering. Models shown in long lists take this mixin: the
value → label map is built once per field and the label is still translated at render time,
in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django import forms
from django.db import models
from django.forms.models import ModelChoiceIterator, ModelChoiceIteratorValue
from django.utils.encoding import force_str

from itsm.lib import listcache


class ChoiceLabels:
    """Mixin for a model: ``get_FOO_display()`` looks the label up in a map kept per field."""

    def _get_FIELD_display(self, field: models.Field) -> Any:
        labels = field.__dict__.get("_choice_labels")
        if labels is None:
            labels = {value: label for value, label in field.flatchoices}
            field.__dict__["_choice_labels"] = labels
        value = getattr(self, field.attname)
        try:
            label = labels.get(value, value)
        except TypeError:  # an unhashable value (a list in a JSON or array field)
            label = value
        return force_str(label, strings_only=True)


class ListedModelChoiceIterator(ModelChoiceIterator):
    """A choice list's rows in one query.

    Django reads them with ``.iterator()``, which on PostgreSQL opens a server-side cursor:
    ``DECLARE``, ``FETCH`` and ``CLOSE``, three round trips for a list of a few dozen teams or
    agents. The rows are kept on the field's own copy of the queryset (one per form), so a field
    rendered and then validated reads them once.
    """

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class ListedModelChoiceField(forms.ModelChoiceField):
    iterator = ListedModelChoiceIterator


class ListedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    iterator = ListedModelChoiceIterator


class CachedModelChoiceIterator(ListedModelChoiceIterator):
    """A choice list read from the shared cache (``itsm/lib/listcache.py``): its values and
    labels, not its rows, kept under the list cache's version. Rendering a select of agents or
    teams reads no table; validating a choice still reads the queryset (``to_python``).

    Only for lists of models the list cache watches (``listcache.watch``), labelled from the
    row alone (``label_from_instance``)."""

    def entry(self) -> tuple[tuple[Any, ...], Callable[[], list[tuple[Any, str]]]]:
        """The list's key parts and how to compute it, for ``listcache.cached``."""
        queryset = self.queryset
        # A listing named with ``offer()`` is keyed by its name; otherwise by its SQL, which
        # costs a compilation of the query (about a millisecond) on every form.
        listing = self.field.listing_name or str(queryset.query)
        parts = (type(self.field).__name__, queryset.model._meta.label_lower, listing)

        def compute() -> list[tuple[Any, str]]:
            return [
                (self.field.prepare_value(obj), str(self.field.label_from_instance(obj))) for obj in queryset
            ]

        return parts, compute

    def keep(self, parts: tuple[Any, ...], pairs: list[tuple[Any, str]]) -> None:
        # Read once per form: a widget may iterate its choices more than once (a required
        # select without an empty choice looks at the first one before rendering them all).
        self.field.__dict__["_listcache_pairs"] = (parts, pairs)

    def _pairs(self) -> list[tuple[Any, str]]:
        parts, compute = self.entry()
        kept = self.field.__dict__.get("_listcache_pairs")
        if kept is not None and kept[0] == parts:
            return kept[1]
        pairs = listcache.cached({"choices": (parts, compute)})["choices"]
        self.keep(parts, pairs)
        return pairs

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for value, label in self._pairs():
            yield (ModelChoiceIteratorValue(value, None), label)

    def __len__(self) -> int:
        return len(self._pairs()) + (1 if self.field.empty_label is not None else 0)

    def __bool__(self) -> bool:
        return self.field.empty_label is not None or bool(self._pairs())


class CachedModelChoiceField(forms.ModelChoiceField):
    iterator = CachedModelChoiceIterator
    listing_name: str | None = None

    def offer(self, queryset: models.QuerySet, name: str) -> None:
        """Offer ``queryset``'s rows, kept in the list cache under ``name``: one name, one
        queryset (the same filters and order) wherever it is used."""
        self.queryset = queryset
        self.listing_name = name

    def _set_queryset(self, queryset: models.QuerySet | None) -> None:
        super()._set_queryset(queryset)
        self.listing_name = None  # a queryset set directly is keyed by its SQL

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)


def read_choices(
    forms_: Iterable[forms.Form], **more: tuple[tuple[Any, ...], Callable[[], Any]]
) -> dict[str, Any]:
    """The choice lists of these forms' cached fields, and ``more`` entries of the list cache
    (``{name: (key parts, compute)}``), read from the cache at once: a page with a form of two
    such lists and a list of its own asks the cache once instead of three times. Returns the
    values of ``more``; the forms' fields keep theirs."""
    iterators = [
        field.iterator(field)
        for form in forms_
        for field in form.fields.values()
        if isinstance(field, CachedModelChoiceField)
    ]
    entries = [iterator.entry() for iterator in iterators]
    wanted = {f"choices@{index}": entry for index, entry in enumerate(entries)}
    values = listcache.cached({**wanted, **more})
    for index, (iterator, (parts, _compute)) in enumerate(zip(iterators, entries, strict=True)):
        iterator.keep(parts, values[f"choices@{index}"])
    return {name: values[name] for name in more}
