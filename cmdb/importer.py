"""Import and upsert configuration items from CSV or JSON, all or nothing.

Items are matched by name (case-insensitive) and type: a new pair creates an item, a known one
updates it, the same file imported twice changes nothing the second time. Every row is checked
before anything is written; any problem refuses the whole file with row-numbered errors.

CSV: a header row, then one item per row. Columns (only ``name`` and ``type`` are required; a
column that is absent leaves that field of existing items as it is, an empty cell clears it)::

    name,type,environment,status,owner_team,description,aliases,hostnames,ip_addresses,
    attributes,maintenance_windows,timezone,depends_on,runs_on,part_of

Lists (aliases, host names, addresses, relations) are separated by ``;``. ``attributes`` is a
JSON object; ``maintenance_windows`` reads ``sun 02:00-04:00; wed 22:00-23:00``. A relation names
its target as ``name`` or, when two items share the name, ``type:name``; the target may be
in the same file or already in the database. Relations are added, never removed, by imports.

JSON: a list of objects with the same keys (lists as JSON arrays), or ``{"items": [...]}``.
Row numbers are the CSV line of the row (the header is line 1), or the position in the list.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Lower

from cmdb import actions
from cmdb.models import ConfigurationItem, ItemRelation, ItemType, RelationKind
from cmdb.structures import as_list, clean_name

if TYPE_CHECKING:
    from itsm.models import User


class ImportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON"


FORMATS = tuple(ImportFormat.values)
RELATION_COLUMNS = tuple(RelationKind.values)
LIST_FIELDS = {"aliases", "hostnames", "ip_addresses"}


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"row {self.row}: {self.field}: {self.message}"
            if self.field
            else f"row {self.row}: {self.message}"
        )


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    relations_created: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class ImportFailed(Exception):
    """Nothing was imported; ``errors`` says which rows and fields are wrong."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(error) for error in errors[:20]))


@dataclass
class Row:
    number: int
    values: dict[str, Any]  # item fields present in the row, cleaned
    relations: dict[str, list[str]]  # kind -> references
    key: tuple[str, str] = ("", "")  # (lower name, type)


# --- reading -------------------------------------------------------------------------------------
def read_rows(data: bytes | str, format: str) -> list[tuple[int, dict[str, Any]]]:
    if format not in FORMATS:
        raise ImportFailed([RowError(0, "format", f"Use one of: {', '.join(FORMATS)}.")])
    if isinstance(data, bytes):
        if len(data) > settings.CMDB_IMPORT_MAX_BYTES:
            raise ImportFailed(
                [RowError(0, "", f"The file is larger than {settings.CMDB_IMPORT_MAX_BYTES} bytes.")]
            )
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ImportFailed([RowError(0, "", "The file is not UTF-8 text.")]) from error
    rows = _read_csv(data) if format == "csv" else _read_json(data)
    if not rows:
        raise ImportFailed([RowError(0, "", "The file holds no items.")])
    if len(rows) > settings.CMDB_IMPORT_MAX_ROWS:
        raise ImportFailed([RowError(0, "", f"At most {settings.CMDB_IMPORT_MAX_ROWS} items per import.")])
    return rows


def _read_csv(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [name.strip().lower() for name in (reader.fieldnames or [])]
    except csv.Error as error:
        raise ImportFailed([RowError(1, "", f"Unreadable CSV: {error}")]) from error
    missing = [name for name in ("name", "type") if name not in header]
    if missing:
        raise ImportFailed([RowError(1, name, "This column is required.") for name in missing])
    known = set(actions.ITEM_FIELDS) | set(RELATION_COLUMNS)
    unknown = [name for name in header if name not in known]
    if unknown:
        raise ImportFailed([RowError(1, name, "Unknown column.") for name in unknown])
    reader.fieldnames = header
    rows = []
    line = reader.line_num + 1
    try:
        for record in reader:
            if None in record:
                raise ImportFailed([RowError(line, "", "This row has more cells than the header.")])
            if any((value or "").strip() for value in record.values()):
                rows.append((line, {key: (value or "").strip() for key, value in record.items()}))
            line = reader.line_num + 1
    except csv.Error as error:
        raise ImportFailed([RowError(line, "", f"Unreadable CSV: {error}")]) from error
    return rows


def _read_json(text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportFailed([RowError(0, "", f"Invalid JSON (line {error.lineno}): {error.msg}.")]) from error
    if isinstance(document, dict):
        document = document.get("items")
    if not isinstance(document, list):
        raise ImportFailed([RowError(0, "", 'Expected a list of items, or {"items": [...]}.')])
    rows = []
    for number, entry in enumerate(document, start=1):
        if not isinstance(entry, dict):
            raise ImportFailed([RowError(number, "", "Each item is a JSON object.")])
        rows.append((number, entry))
    return rows


# --- checking --------------------------------------------------------------------------------------
def _check_row(number: int, raw: dict[str, Any], errors: list[RowError]) -> Row | None:
    known = set(actions.ITEM_FIELDS) | set(RELATION_COLUMNS)
    errors.extend(RowError(number, name, "Unknown field.") for name in raw if name not in known)
    values = {name: value for name, value in raw.items() if name in actions.ITEM_FIELDS}
    for required in ("name", "type"):
        if not str(values.get(required) or "").strip():
            errors.append(RowError(number, required, "This field is required."))
            values.pop(required, None)
    if "attributes" in values and isinstance(values["attributes"], str):
        text = values["attributes"].strip()
        try:
            values["attributes"] = json.loads(text) if text else {}
        except json.JSONDecodeError:
            errors.append(RowError(number, "attributes", "Not a JSON object."))
            values.pop("attributes")
    if values.get("owner_team") == "":
        values["owner_team"] = None
    if values.get("environment") == "":
        values.pop("environment")
    if values.get("status") == "":
        values.pop("status")
    if values.get("timezone") == "":
        values.pop("timezone")
    try:
        cleaned = actions.clean_item_fields(values)
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            errors.extend(RowError(number, name, message) for message in messages)
        return None
    relations = {}
    for kind in RELATION_COLUMNS:
        if kind in raw:
            try:
                value = raw[kind]
                if isinstance(value, str):  # names may hold commas: only ; separates
                    value = [part for part in value.split(";")]
                relations[kind] = as_list(value, kind)
            except ValidationError as error:
                errors.extend(RowError(number, kind, message) for message in error.messages)
    if not {"name", "type"} <= set(cleaned):
        return None
    return Row(number, cleaned, relations, key=(cleaned["name"].lower(), cleaned["type"]))


def _parse_reference(reference: str) -> tuple[str | None, str]:
    kind, separator, name = reference.partition(":")
    if separator and kind.strip().lower() in ItemType.values:
        return kind.strip().lower(), clean_name(name)
    return None, clean_name(reference)


def _resolve(rows: list[Row], errors: list[RowError]) -> dict[tuple[int, str, str], tuple[str, str]]:
    """Each relation reference → the (lower name, type) of its target, in the file or the database."""
    in_file: dict[str, set[str]] = {}
    for row in rows:
        in_file.setdefault(row.key[0], set()).add(row.key[1])
    wanted = {
        _parse_reference(reference)[1].lower()
        for row in rows
        for references in row.relations.values()
        for reference in references
    }
    in_database: dict[str, set[str]] = {}
    if wanted:
        for lower, type in (
            ConfigurationItem.objects.annotate(lower=Lower("name"))
            .filter(lower__in=wanted)
            .values_list("lower", "type")
        ):
            in_database.setdefault(lower, set()).add(type)
    resolved = {}
    for row in rows:
        for kind, references in row.relations.items():
            for reference in references:
                type, name = _parse_reference(reference)
                types = in_file.get(name.lower(), set()) | in_database.get(name.lower(), set())
                if type is not None:
                    types = types & {type}
                if not types:
                    errors.append(
                        RowError(row.number, kind, f"No item {reference!r} in the file or the database.")
                    )
                elif len(types) > 1:
                    choices = " or ".join(f"{t}:{name}" for t in sorted(types))
                    errors.append(RowError(row.number, kind, f"{reference!r} is ambiguous: write {choices}."))
                elif (name.lower(), next(iter(types))) == row.key:
                    errors.append(RowError(row.number, kind, "An item cannot be related to itself."))
                else:
                    resolved[(row.number, kind, reference)] = (name.lower(), next(iter(types)))
    return resolved


# --- writing ---------------------------------------------------------------------------------------
def do_import_items(
    data: bytes | str,
    *,
    format: str,
    actor: User | None,
    dry_run: bool = False,
    actor_label: str = "system:import",
) -> ImportReport:
    """Check every row, then create or update the items and add the relations in one
    transaction. Raises ImportFailed (nothing written) with every problem found."""
    actions.check_can_edit_items(actor)
    raw_rows = read_rows(data, format)
    errors: list[RowError] = []
    rows = [row for number, raw in raw_rows if (row := _check_row(number, raw, errors)) is not None]
    first_seen: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.key in first_seen:
            errors.append(RowError(row.number, "name", f"Repeats the item of row {first_seen[row.key]}."))
        first_seen.setdefault(row.key, row.number)
    resolved = _resolve(rows, errors)
    if errors:
        raise ImportFailed(sorted(errors, key=lambda error: error.row))
    report = ImportReport(rows=len(rows), dry_run=dry_run)
    label = "" if actor is not None else actor_label
    with transaction.atomic():
        existing = {
            (item.name.lower(), item.type): item
            for item in ConfigurationItem.objects.annotate(lower=Lower("name")).filter(
                lower__in={row.key[0] for row in rows}
            )
        }
        items: dict[tuple[str, str], ConfigurationItem] = {}
        for row in rows:
            try:
                item = existing.get(row.key)
                if item is None:
                    items[row.key] = actions.do_create_item(actor=actor, actor_label=label, **row.values)
                    report.created += 1
                elif actions.do_update_item(item, actor=actor, fields=row.values, actor_label=label):
                    items[row.key] = item
                    report.updated += 1
                else:
                    items[row.key] = item
                    report.unchanged += 1
            except ValidationError as error:
                errors.extend(
                    RowError(row.number, name, message)
                    for name, messages in error.message_dict.items()
                    for message in messages
                )
        if errors:
            raise ImportFailed(sorted(errors, key=lambda error: error.row))  # rolls the rows back
        targets = _targets(resolved, items)
        present = set(
            ItemRelation.objects.filter(source__in=[item.pk for item in items.values()]).values_list(
                "source_id", "target_id", "kind"
            )
        )
        for row in rows:
            source = items[row.key]
            for kind, references in row.relations.items():
                for reference in references:
                    target = targets[resolved[(row.number, kind, reference)]]
                    if (source.pk, target.pk, kind) in present:
                        continue
                    actions.do_add_item_relation(
                        source, target, kind=kind, actor=actor, actor_label=label, exist_ok=True
                    )
                    present.add((source.pk, target.pk, kind))
                    report.relations_created += 1
        if dry_run:
            transaction.set_rollback(True)
    return report


def _targets(
    resolved: dict[tuple[int, str, str], tuple[str, str]], items: dict[tuple[str, str], ConfigurationItem]
) -> dict[tuple[str, str], ConfigurationItem]:
    targets = dict(items)
    missing = {key for key in resolved.values() if key not in targets}
    if missing:
        for item in ConfigurationItem.objects.annotate(lower=Lower("name")).filter(
            lower__in={name for name, _type in missing}
        ):
            targets.setdefault((item.name.lower(), item.type), item)
    return targets
