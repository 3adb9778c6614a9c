"""Extension points of the ticket pages and lists.

Apps that come later (sla, problems, ai, integrations) register here from their
``AppConfig.ready()``; the tickets app renders what is registered without importing them.

- ``DetailPanel``: a panel on the ticket page, loaded with ``hx-get`` from the owner's view
  (``url_name`` takes the ticket pk). Without JavaScript the panel shows a plain link. With
  ``portal`` it is also on the requester's portal ticket page (the owner's view then answers
  as the requester: only what the portal shows them).
- ``QueueColumn``: a column of the queue table. ``render(ticket)`` writes one cell's HTML (or
  ``template`` renders it with ``ticket`` in its context, slower); ``prefetch`` names the
  related lookups the cell reads (``"sla_clocks"``, or a ``Prefetch`` reading only the
  columns it needs), so the list keeps a fixed number of queries; or ``load(tickets)`` attaches
  what the cells read to the page's tickets in one query of its own (lighter than a prefetch:
  no related managers); ``fields`` names the ticket fields it reads beyond those of the row
  (the queue reads only those: ``only()``).
- ``QueueFilter``: a query parameter of the queue and of ``GET /api/tickets/``:
  ``apply(queryset, values)`` narrows the queryset; ``choices`` feed the filter form.
- ``QueueSort``: a sort key (``?sort=sla_due``): ``apply(queryset, descending)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, QuerySet


@dataclass(frozen=True)
class DetailPanel:
    name: str
    label: str
    url_name: str
    order: int = 100
    agents_only: bool = True
    portal: bool = False


@dataclass(frozen=True)
class QueueColumn:
    """A column of the queue table: its cell is ``render(ticket)`` (safe HTML, the fast way: the
    table is the most requested page), or the ``template`` rendered with ``ticket``."""

    name: str
    label: str
    template: str = ""
    prefetch: Sequence[str | Prefetch] = ()
    order: int = 100
    render: Callable[[Any], str] | None = None
    fields: Sequence[str] = ()
    load: Callable[[Sequence[Any]], None] | None = None


@dataclass(frozen=True)
class QueueFilter:
    name: str
    label: str
    apply: Callable[[QuerySet, list[str]], QuerySet]
    choices: Sequence[tuple[str, str]] = field(default_factory=tuple)


@dataclass(frozen=True)
class QueueSort:
    name: str
    label: str
    apply: Callable[[QuerySet, bool], QuerySet]


detail_panels: dict[str, DetailPanel] = {}
queue_columns: dict[str, QueueColumn] = {}
queue_filters: dict[str, QueueFilter] = {}
queue_sorts: dict[str, QueueSort] = {}


def register_detail_panel(panel: DetailPanel) -> None:
    detail_panels[panel.name] = panel


def register_queue_column(column: QueueColumn) -> None:
    queue_columns[column.name] = column


def register_queue_filter(queue_filter: QueueFilter) -> None:
    queue_filters[queue_filter.name] = queue_filter


def register_queue_sort(sort: QueueSort) -> None:
    queue_sorts[sort.name] = sort


def panels_for(user: object) -> list[DetailPanel]:
    is_agent = getattr(user, "is_agent", False)
    return sorted(
        (panel for panel in detail_panels.values() if is_agent or not panel.agents_only),
        key=lambda panel: (panel.order, panel.name),
    )


def portal_panels() -> list[DetailPanel]:
    """The panels of the requester's portal ticket page."""
    return sorted(
        (panel for panel in detail_panels.values() if panel.portal),
        key=lambda panel: (panel.order, panel.name),
    )


def columns() -> list[QueueColumn]:
    return sorted(queue_columns.values(), key=lambda column: (column.order, column.name))
