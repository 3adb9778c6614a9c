"""The rows of the queue table, written in Python.

The queue table is the most requested page of the desk (it polls every 30 seconds in every
agent's browser). Through the template engine its 25 rows cost about 36 variable lookups, two
URL reversals, two translated blocks and an include per row: four fifths of the table's
rendering at 100,000 tickets (``bench/queue_page.py``). Here each row is one formatted string,
the same markup the template wrote; columns other apps register render through their
``render`` function, or their template when they have none.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from django.db.models import CharField, OuterRef, Subquery, Value, prefetch_related_objects
from django.db.models.functions import Coalesce, NullIf
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateformat import format as format_date
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from django.utils.translation import get_language, gettext

from itsm.lib.prepared import Prepared
from itsm.models import CustomerTier, Organisation, Team, User
from tickets.extensions import QueueColumn
from tickets.models import Category, Priority, Ticket, TicketStatus

DASH = "—"


def _escape(value: Any) -> str:
    """Django's ``escape`` (the same entities, ``html.escape``) without its lazy-string wrapper
    and safe-string result, which cost more than the escaping: it runs fifteen times a row."""
    return html.escape(str(value))


# What a row reads of the ticket itself (the related rows' ids; their names come with it).
ROW_FIELDS = (
    "number",
    "title",
    "status",
    "priority",
    "tags",
    "sensitive",
    "updated_at",
    "category",
    "organisation",
    "assignee",
    "team",
    "requester",
)


def _shown(user_id: str) -> Subquery:
    """A user as ``str(user)`` writes them: the full name, or the e-mail address without one."""
    shown = Coalesce(NullIf("full_name", Value("")), "email", output_field=CharField())
    return Subquery(User.objects.filter(pk=OuterRef(user_id)).order_by().values(shown=shown)[:1])


def _column(model: Any, foreign_key: str, field: str = "name") -> Subquery:
    return Subquery(model.objects.filter(pk=OuterRef(foreign_key)).order_by().values(field)[:1])


def _names() -> dict[str, Subquery]:
    """The names a row shows, each a subquery by the related row's primary key: PostgreSQL plans
    six of them in a fraction of a millisecond, where joining the five tables took it 2–3 ms to
    plan (and 15–35 ms joined to the queue's filters and sort, ``bench/queue_page.py``)."""
    return {
        "row_requester": _shown("requester_id"),
        "row_assignee": _shown("assignee_id"),
        "row_team": _column(Team, "team_id"),
        "row_category": _column(Category, "category_id"),
        "row_organisation": _column(Organisation, "organisation_id"),
        "row_tier": _column(Organisation, "organisation_id", "tier"),
    }


@functools.lru_cache(maxsize=8)
def _rows_by_id(fields: tuple[str, ...]) -> Prepared:
    return Prepared(
        lambda ids: Ticket.objects.filter(pk__any_of=ids).only(*ROW_FIELDS, *fields).annotate(**_names())
    )


def load_rows(ids: Sequence[int], columns: Sequence[QueueColumn] = ()) -> list[Ticket]:
    """The tickets of one page of the queue, in the order of ``ids``, with what their rows show
    (``row_requester``, ``row_team``…) and what the ``columns`` read: their fields, their
    prefetches, their ``load``. One query for the rows, written once per process
    (``itsm/lib/prepared.py``), and each column's own."""
    if not ids:
        return []
    rows = _rows_by_id(tuple(name for column in columns for name in column.fields))(ids=list(ids))
    prefetches = [lookup for column in columns for lookup in column.prefetch]
    if prefetches:
        prefetch_related_objects(rows, *prefetches)
    by_id = {ticket.pk: ticket for ticket in rows}
    tickets = [by_id[pk] for pk in ids if pk in by_id]
    for column in columns:
        if column.load is not None and tickets:
            column.load(tickets)
    return tickets


@functools.lru_cache(maxsize=4096)
def _written_date(language: str | None, fmt: str, moment: datetime, zone: tzinfo | None) -> str:
    return _escape(format_date(moment.replace(tzinfo=zone), fmt))


def _full_date(moment: datetime, fmt: str) -> str:
    """``moment`` written in the reader's language and format, escaped: the same few hundred
    tickets are listed again and again (every agent's queue polls), so each is written once per
    process. Keyed by the local wall time and its zone (aware datetimes of one instant in two
    zones are equal)."""
    return _written_date(get_language(), fmt, moment.replace(tzinfo=None), moment.tzinfo)


def _ago(moment: datetime, now: datetime) -> str:
    """``timesince(moment, now)``, the same words. Less than a month apart (nearly every ticket
    a queue lists), they depend only on the whole minutes between: kept per process and
    language. Further apart, on the calendar (months of 28 to 31 days): written each time.
    Django's ``timesince`` was a third of a row's time."""
    now = now.astimezone(moment.tzinfo)  # as timesince compares them
    months = (now.year - moment.year) * 12 + (now.month - moment.month)
    if moment.day > now.day or (moment.day == now.day and moment.time() > now.time()):
        months -= 1
    if months > 0:
        return timesince(moment, now)
    return _ago_in_minutes(get_language(), max(0, int((now - moment).total_seconds() // 60)))


# Any moment that begins a month of 31 days: a span of less than a month from it stays in it.
_MONTH_START = datetime(2001, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=8192)
def _ago_in_minutes(language: str | None, minutes: int) -> str:
    return timesince(_MONTH_START, _MONTH_START + timedelta(minutes=minutes))


def _cell(column: QueueColumn, ticket: Any) -> str:
    if column.render is not None:
        return column.render(ticket)
    return render_to_string(column.template, {"ticket": ticket})


def _row(
    ticket: Any,
    columns: Sequence[QueueColumn],
    can_write: bool,
    link: tuple[str, str],
    labels: dict[str, Any],
) -> str:
    pk = ticket.pk
    url = f"{link[0]}{pk}{link[1]}"
    number = _escape(ticket.number)
    select = (
        f'<td><input type="checkbox" name="ids" value="{pk}" id="select-{pk}" hx-preserve'
        f' aria-label="{labels["select"] % {"number": number}}"></td>'  # as blocktranslate: the msgstr is trusted
        if can_write
        else ""
    )
    tags = "".join(f' <span class="chip">{_escape(tag)}</span>' for tag in ticket.tags or ())
    category = (
        f'<br><small class="muted">{_escape(ticket.row_category)}</small>' if ticket.category_id else ""
    )
    organisation = ""
    if ticket.organisation_id:
        tier = ticket.row_tier
        organisation = (
            f'<br><small class="muted">{_escape(ticket.row_organisation)} · '
            f"{_escape(labels['tier'].get(tier, tier))}</small>"
        )
    extra = "".join(
        f'<td class="column-{_escape(column.name)}">{_cell(column, ticket)}</td>' for column in columns
    )
    updated = timezone.localtime(ticket.updated_at)
    status, priority = ticket.status, ticket.priority
    return (
        f'<tr id="ticket-row-{pk}" class="{"sensitive" if ticket.sensitive else ""}">{select}'
        f'<td class="number"><a href="{url}">{number}</a></td>'
        f'<td><a href="{url}">{_escape(ticket.title)}</a>{tags}{category}</td>'
        f'<td><span class="pill status-{_escape(status)}">'
        f"{_escape(labels['status'].get(status) or ticket.get_status_display())}</span></td>"
        f'<td><span class="pill {_escape(priority)}">'
        f"{_escape(labels['priority'].get(priority) or ticket.get_priority_display())}</span></td>"
        f"<td>{_escape(ticket.row_assignee) if ticket.assignee_id else DASH}</td>"
        f"<td>{_escape(ticket.row_team) if ticket.team_id else DASH}</td>"
        f"<td>{_escape(ticket.row_requester)}{organisation}</td>{extra}"
        f'<td><time datetime="{_escape(updated.isoformat())}"'  # the date filter's "c"
        f' title="{_full_date(updated, labels["datetime_format"])}">'  # as formats.localize
        f"{labels['ago'] % {'ago': _escape(_ago(ticket.updated_at, labels['now']))}}</time></td></tr>\n"  # as blocktranslate
    )


def render_rows(tickets: Iterable[Any], columns: Sequence[QueueColumn], can_write: bool) -> SafeString:
    """The ``<tr>`` of each ticket, as :func:`load_rows` gives them."""
    before, _zero, after = reverse("tickets:ticket-detail", args=[0]).rpartition("/0/")
    link = (_escape(f"{before}/"), _escape(f"/{after}"))
    labels = {
        "select": gettext("Select %(number)s"),
        "ago": gettext("%(ago)s ago"),
        # translated once per table, not once per row
        "status": {value: str(label) for value, label in TicketStatus.choices},
        "priority": {value: str(label) for value, label in Priority.choices},
        "tier": {value: str(label) for value, label in CustomerTier.choices},
        "datetime_format": formats.get_format("DATETIME_FORMAT"),
        "now": timezone.now(),  # one moment for the whole table
    }
    return mark_safe("".join(_row(ticket, columns, can_write, link, labels) for ticket in tickets))  # noqa: S308 - every value above is escaped
