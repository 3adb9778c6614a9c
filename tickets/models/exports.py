from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON"


class ExportStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class ExportJob(models.Model):
    """A CSV/JSON export of a filtered ticket list, built by the worker."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports"
    )
    format = models.CharField(max_length=4, choices=ExportFormat.choices, default=ExportFormat.CSV)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    file = models.FileField(upload_to="exports/", blank=True)
    row_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.format}, {self.status})"


# (header, value lookup) of every exported column, in order. Lookups are read with
# ``values_list`` so rows stream as tuples, never as model instances.
EXPORT_COLUMNS: list[tuple[str, str]] = [
    ("number", "number"),
    ("type", "type"),
    ("title", "title"),
    ("status", "status"),
    ("priority", "priority"),
    ("impact", "impact"),
    ("urgency", "urgency"),
    ("category", "category__name"),
    ("team", "team__name"),
    ("assignee", "assignee__email"),
    ("requester", "requester__email"),
    ("organisation", "organisation__name"),
    ("tags", "tags"),
    ("sensitive", "sensitive"),
    ("archived", "archived"),
    ("jira_key", "external_key"),
    ("reopen_count", "reopen_count"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
    ("first_response_at", "first_response_at"),
    ("resolved_at", "resolved_at"),
    ("closed_at", "closed_at"),
]

# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _plain(value: object) -> object:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _csv_cell(value: object) -> object:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_export(rows: Iterable[tuple], export_format: str, out: IO[str]) -> int:
    """Write rows (tuples in ``EXPORT_COLUMNS`` order) to ``out`` one at a time; returns the count."""
    headers = [header for header, _lookup in EXPORT_COLUMNS]
    count = 0
    if export_format == ExportFormat.CSV:
        writer = csv.writer(out)
        writer.writerow(headers)
        for row in rows:
            writer.writerow([_csv_cell(value) for value in row])
            count += 1
        return count
    out.write("[")
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(json.dumps({header: _plain(value) for header, value in zip(headers, row, strict=True)}))
        count += 1
    out.write("\n]\n")
    return count
