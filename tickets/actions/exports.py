"""Exports of a filtered ticket list: recorded by the request, built by the worker."""

from __future__ import annotations

import io
import secrets
import tempfile
from types import SimpleNamespace
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from itsm.lib.tasks import defer_once
from itsm.notify import notify
from tickets import extensions
from tickets.actions.tickets import check_choice
from tickets.filters import SORTS, TicketFilter, sort_tickets
from tickets.models import AccessChannel, ExportFormat, ExportJob, ExportStatus, SensitiveAccess, Ticket
from tickets.models.exports import EXPORT_COLUMNS, write_export

if TYPE_CHECKING:
    from itsm.models import User


# Rows fetched per round trip while streaming an export (a server-side cursor): memory stays flat.
EXPORT_CHUNK_SIZE = 2000
EXPORT_EXTRA_PARAMETERS = {"sort"}
# Deferred by name through procrastinate's registry: ``tickets.tasks`` imports this module to
# run the build, so this module does not import it back.
BUILD_EXPORT_TASK = "tickets.tasks.build_export"


def export_filterset(actor: User, filters: dict[str, list[str]]) -> TicketFilter:
    """The queue's ``TicketFilter`` over what ``actor`` may see, fed with stored filters."""
    data = QueryDict(mutable=True)
    for key, values in filters.items():
        data.setlist(key, [str(value) for value in values])
    return TicketFilter(
        data=data, queryset=Ticket.objects.visible_to(actor), request=SimpleNamespace(user=actor)
    )


def check_export_filters(actor: User, filters: dict[str, list[str]]) -> None:
    known = set(TicketFilter.base_filters) | set(extensions.queue_filters) | EXPORT_EXTRA_PARAMETERS
    unknown = sorted(set(filters) - known)
    if unknown:
        raise ValidationError(
            {"filters": f"Unknown filter(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."}
        )
    sort = (filters.get("sort") or [""])[0].lstrip("-")
    if sort and sort not in set(SORTS) | set(extensions.queue_sorts):
        raise ValidationError({"filters": f"Unknown sort {sort!r}."})
    filterset = export_filterset(actor, filters)
    if not filterset.is_valid():
        raise ValidationError(
            {"filters": [f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items()]}
        )


@transaction.atomic
def do_request_export(
    *, actor: User, format: str = "csv", filters: dict[str, list[str]] | None = None
) -> ExportJob:
    """Record an export and queue its build in the same transaction (no job without its row)."""
    if not actor.can_write():
        raise PermissionDenied("Viewers cannot start exports.")
    check_choice(format, ExportFormat.values, "format")
    filters = {key: list(values) for key, values in (filters or {}).items()}
    check_export_filters(actor, filters)
    job = ExportJob.objects.create(requested_by=actor, format=format, filters=filters)
    defer_once(BUILD_EXPORT_TASK, lock=f"export-{job.pk}", serial=True, export_id=job.pk)
    return job


def do_build_export(export_id: int) -> ExportJob | None:
    """Build one export file, streaming rows from a server-side cursor to a temporary file.

    Idempotent: a ready or failed job is left alone; a ``running`` one (its worker died) is
    built again. Returns the job, or None when there was nothing to do.
    """
    claimed = ExportJob.objects.filter(
        pk=export_id, status__in=[ExportStatus.PENDING, ExportStatus.RUNNING]
    ).update(status=ExportStatus.RUNNING, error="")
    if not claimed:
        return None
    job = ExportJob.objects.select_related("requested_by").get(pk=export_id)
    try:
        filterset = export_filterset(job.requested_by, job.filters)
        if not filterset.is_valid():
            raise ValidationError(f"Bad filters: {dict(filterset.errors)}")
        search = (job.filters.get("search") or [""])[0].strip()
        queryset = sort_tickets(filterset.qs, (job.filters.get("sort") or [""])[0], searching=bool(search))
        # An export shows sensitive tickets too: each one is a view to record.
        user = job.requested_by
        SensitiveAccess.objects.bulk_create(
            (
                SensitiveAccess(ticket_id=pk, user=user, user_email=user.email, channel=AccessChannel.EXPORT)
                for pk in queryset.filter(sensitive=True).values_list("pk", flat=True)
            ),
            batch_size=1000,
        )
        rows = queryset.values_list(*[lookup for _header, lookup in EXPORT_COLUMNS]).iterator(
            chunk_size=EXPORT_CHUNK_SIZE
        )
        with tempfile.TemporaryFile() as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            count = write_export(rows, job.format, text)
            text.flush()
            text.detach()
            raw.seek(0)
            name = default_storage.save(
                f"exports/tickets-{job.pk}-{secrets.token_hex(8)}.{job.format}", File(raw)
            )
    except Exception as error:
        # Marking the job failed needs the database; if that is what is down, this raises
        # too and procrastinate retries the task (the job is still ``running``, so it is rebuilt).
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.READY, file=name, row_count=count, finished_at=timezone.now()
    )
    job.refresh_from_db()
    notify_export_ready(job)
    return job


def notify_export_ready(job: ExportJob) -> None:
    """The bell of whoever asked, with the download link (once per export: the dedupe key)."""
    user = job.requested_by
    with translation.override(user.language or settings.LANGUAGE_CODE):
        title = gettext("Your %(format)s export of %(count)s ticket(s) is ready") % {
            "format": job.format.upper(),
            "count": job.row_count,
        }
    notify(
        [user],
        verb="export_ready",
        title=title,
        url=reverse("tickets:export-download", args=[job.pk]),
        subject_type="export",
        subject_id=job.pk,
        dedupe_key=f"export:{job.pk}:ready",
    )
