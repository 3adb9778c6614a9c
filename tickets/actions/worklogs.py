"""Time tracking: log time on a ticket (with a reply or note, or on its own), remove an entry."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from tickets.actions.tickets import check_can_change
from tickets.models import WORKLOG_MAX_MINUTES, Comment, Ticket, WorkLog

if TYPE_CHECKING:
    from itsm.models import User

DURATION = re.compile(
    r"^\s*(?:(?P<hours>\d+(?:[.,]\d+)?)\s*h(?:ours?)?)?\s*(?:(?P<minutes>\d+)\s*m(?:in(?:utes?)?)?)?\s*$",
    re.I,
)
# A little slack for clocks that disagree; work is not logged in the future.
FUTURE_SLACK = timedelta(minutes=5)


def parse_duration(text: str | int | None) -> int:
    """Minutes from ``90``, ``1h30``, ``1h 30m``, ``1.5h``, ``45m``; 0 for empty. Bad text → ValidationError."""
    if text is None:
        return 0
    if isinstance(text, int):
        return text
    text = str(text).strip().lower().replace("h", "h ").strip()
    if not text:
        return 0
    if text.isdigit():
        return int(text)
    # "1h 30" (minutes without their unit)
    text = re.sub(r"h\s+(\d+)\s*$", r"h \1m", text)
    match = DURATION.match(text)
    if match is None or not (match.group("hours") or match.group("minutes")):
        raise ValidationError({"minutes": gettext("Give a duration such as 45, 45m, 1h30 or 1.5h.")})
    hours = float((match.group("hours") or "0").replace(",", "."))
    return round(hours * 60) + int(match.group("minutes") or 0)


def check_worklog(minutes: int, worked_at: datetime | None, note: str) -> None:
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= WORKLOG_MAX_MINUTES:
        raise ValidationError(
            {"minutes": gettext("Between 1 and %(max)s minutes per entry.") % {"max": WORKLOG_MAX_MINUTES}}
        )
    if worked_at is not None and worked_at > timezone.now() + FUTURE_SLACK:
        raise ValidationError({"worked_at": gettext("Work is logged once done, not in the future.")})
    if len(note or "") > 500:
        raise ValidationError({"note": gettext("At most 500 characters.")})


@transaction.atomic
def do_log_work(
    ticket: Ticket,
    *,
    actor: User,
    minutes: int,
    note: str = "",
    billable: bool = False,
    worked_at: datetime | None = None,
    comment: Comment | None = None,
) -> WorkLog:
    """Agents log their own time on tickets they may change."""
    check_can_change(ticket, actor)
    check_worklog(minutes, worked_at, note)
    if comment is not None and comment.ticket_id != ticket.pk:
        raise ValidationError({"comment": "The comment is on another ticket."})
    return WorkLog.objects.create(
        ticket=ticket,
        user=actor,
        minutes=minutes,
        note=(note or "").strip(),
        billable=billable,
        worked_at=worked_at or timezone.now(),
        comment=comment,
    )


def do_delete_worklog(worklog: WorkLog, *, actor: User) -> None:
    """People remove their own entries; admins any."""
    if not (actor.is_admin or (actor.is_agent and worklog.user_id == actor.pk)):
        raise PermissionDenied(gettext("You may only remove your own time entries."))
    worklog.delete()
