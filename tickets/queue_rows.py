"""The rows of the queue table, written in Python.

The queue table is the most requested page of the desk (it polls every 30 seconds in every
agent's browser). Through the template engine its 25 rows cost about 36 variable lookups, two
URL reversals, two translated blocks and an include per row: four fifths of the table's
rendering at 100,000 tickets (``bench/queue_page.py``). Here each row is one formatted string,
the same markup the template wrote; columns other apps register render through their
``render`` function, or their template when they have none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateformat import format as format_date
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from django.utils.translation import gettext

from tickets.extensions import QueueColumn
from tickets.models import Priority, TicketStatus

DASH = "—"
# What a row reads (``only()``: the queue reads these columns and nothing else of the six
# tables; the ticket's description and the users' other columns are most of the bytes).
ROW_FIELDS = (
    "number",
    "title",
    "status",
    "priority",
    "tags",
    "sensitive",
    "updated_at",
    "category__name",
    "organisation__name",
    "organisation__tier",
    "assignee__full_name",
    "assignee__email",
    "team__name",
    "requester__full_name",
    "requester__email",
)


def _cell(column: QueueColumn, ticket: Any) -> str:
    if column.render is not None:
        return column.render(ticket)
    return render_to_string(column.template, {"ticket": ticket})


def _row(
    ticket: Any, columns: Sequence[QueueColumn], can_write: bool, link: str, labels: dict[str, Any]
) -> str:
    before, _zero, after = link.rpartition("/0/")
    url = f"{before}/{ticket.pk}/{after}"
    select = ""
    if can_write:
        select = format_html(
            '<td><input type="checkbox" name="ids" value="{}" id="select-{}" hx-preserve aria-label="{}"></td>',
            ticket.pk,
            ticket.pk,
            mark_safe(labels["select"] % {"number": conditional_escape(ticket.number)}),  # noqa: S308 - as blocktranslate: the msgstr is trusted, the value escaped
        )
    tags = format_html_join("", ' <span class="chip">{}</span>', ((tag,) for tag in ticket.tags or ()))
    category = (
        format_html('<br><small class="muted">{}</small>', ticket.category.name) if ticket.category_id else ""
    )
    organisation = ""
    if ticket.organisation_id:
        organisation = format_html(
            '<br><small class="muted">{} · {}</small>',
            ticket.organisation.name,
            ticket.organisation.get_tier_display(),
        )
    extra = format_html_join(
        "", '<td class="column-{}">{}</td>', ((column.name, _cell(column, ticket)) for column in columns)
    )
    updated = timezone.localtime(ticket.updated_at)
    return format_html(
        '<tr id="ticket-row-{}" class="{}">{}'
        '<td class="number"><a href="{}">{}</a></td>'
        '<td><a href="{}">{}</a>{}{}</td>'
        '<td><span class="pill status-{}">{}</span></td>'
        '<td><span class="pill {}">{}</span></td>'
        "<td>{}</td><td>{}</td><td>{}{}</td>{}"
        '<td><time datetime="{}" title="{}">{}</time></td></tr>\n',
        ticket.pk,
        "sensitive" if ticket.sensitive else "",
        select,
        url,
        ticket.number,
        url,
        ticket.title,
        tags,
        category,
        ticket.status,
        labels["status"].get(ticket.status) or ticket.get_status_display(),
        ticket.priority,
        labels["priority"].get(ticket.priority) or ticket.get_priority_display(),
        ticket.assignee if ticket.assignee_id else DASH,
        ticket.team.name if ticket.team_id else DASH,
        ticket.requester,
        organisation,
        extra,
        updated.isoformat(),  # the date filter's "c"
        format_date(updated, labels["datetime_format"]),  # as formats.localize
        mark_safe(labels["ago"] % {"ago": conditional_escape(timesince(ticket.updated_at))}),  # noqa: S308 - as blocktranslate
    )


def render_rows(tickets: Iterable[Any], columns: Sequence[QueueColumn], can_write: bool) -> SafeString:
    """The ``<tr>`` of each ticket (related rows selected, the columns' prefetches done)."""
    link = reverse("tickets:ticket-detail", args=[0])
    labels = {
        "select": gettext("Select %(number)s"),
        "ago": gettext("%(ago)s ago"),
        # translated once per table, not once per row
        "status": {value: str(label) for value, label in TicketStatus.choices},
        "priority": {value: str(label) for value, label in Priority.choices},
        "datetime_format": formats.get_format("DATETIME_FORMAT"),
    }
    return mark_safe("".join(_row(ticket, columns, can_write, link, labels) for ticket in tickets))  # noqa: S308 - every value above is escaped by format_html
