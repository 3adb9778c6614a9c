"""`manage.py backup DIR` and `restore DIR`: a real pg_dump of the test database and its stored
files, restored by a separate process into a new, empty database and an emptied file store,
then compared table by table, row by row (a sample) and byte by byte."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection

from itsm.backups import DUMP, FILES, MANIFEST
from tickets import actions
from tickets.models import Attachment, Comment, Ticket

ROOT = Path(__file__).resolve().parent.parent
COMPARED = ["itsm_user", "tickets_ticket", "tickets_comment", "tickets_attachment", "django_migrations"]


def restore_environment(database: str, media: Path) -> dict[str, str]:
    environment = {**os.environ, "ITSM_ENV": "test", "MEDIA_ROOT": str(media)}
    if settings.EMBEDDED_DATABASE:
        environment["EMBEDDED_DATABASE_NAME"] = database  # created, empty, on the embedded server
    else:
        url = urlsplit(os.environ["DATABASE_URL"])
        environment["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{database}"))
    return environment


def connect(database: str) -> psycopg.Connection:
    source = connection.settings_dict
    return psycopg.connect(
        dbname=database,
        user=source["USER"] or "postgres",
        password=source["PASSWORD"] or None,
        host=source["HOST"] or None,
        port=source["PORT"] or None,
        autocommit=True,
    )


def rows(cursor, sql: str) -> list[tuple]:
    cursor.execute(sql)
    return cursor.fetchall()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_backs_up_and_restores_the_database_and_files(tmp_path, media, agent, make_ticket):
    for number in range(3):
        ticket = make_ticket(f"Backed-up ticket {number}", actor=agent)
        actions.do_add_comment(
            ticket,
            actor=agent,
            body=f"Reply {number}",
            attachments=[
                SimpleUploadedFile(f"log-{number}.txt", os.urandom(2000), content_type="text/plain")
            ],
        )
    originals = {a.file.name: Path(a.file.path).read_bytes() for a in Attachment.objects.all()}
    backup_dir = tmp_path / "backup"

    call_command("backup", str(backup_dir), stdout=open(os.devnull, "w"))  # noqa: SIM115

    manifest = json.loads((backup_dir / MANIFEST).read_text())
    assert manifest["database"]["tables"]["tickets_ticket"] == Ticket.objects.count() == 3
    assert sorted(entry["name"] for entry in manifest["files"]) == sorted(originals)
    for entry in manifest["files"]:
        assert entry["sha256"] == hashlib.sha256(originals[entry["name"]]).hexdigest()

    # Wipe: the restore goes to a database that does not exist yet and a store emptied of its files.
    shutil.rmtree(media)
    database = f"itsm_restore_{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "restore", str(backup_dir)],
            cwd=ROOT,
            env=restore_environment(database, media),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "Restored" in result.stdout and "3 files" in result.stdout

        with connection.cursor() as source, connect(database) as restored, restored.cursor() as target:
            for table in COMPARED:
                sql = f"SELECT count(*) FROM {table}"  # noqa: S608 - our own table names
                assert rows(source, sql) == rows(target, sql), table
            sample = "SELECT id, number, title, status, priority, created_at FROM tickets_ticket ORDER BY id"
            assert rows(source, sample) == rows(target, sample)
            sample = "SELECT id, ticket_id, body, created_at FROM tickets_comment ORDER BY id"
            assert rows(source, sample) == rows(target, sample)
            assert rows(target, "SELECT extname FROM pg_extension WHERE extname = 'vector'") == [("vector",)]
        for name, content in originals.items():
            assert (media / name).read_bytes() == content
    finally:
        with connect("postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def fake_backup(directory: Path, *, dump: bytes = b"dump", files: dict[str, bytes] | None = None) -> Path:
    """A backup directory with a consistent manifest (its dump is not a real one)."""
    (directory / FILES).mkdir(parents=True)
    (directory / DUMP).write_bytes(dump)
    entries = []
    for name, content in (files or {}).items():
        (directory / FILES / name).write_bytes(content)
        entries.append({"name": name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()})
    manifest = {
        "format": 1,
        "database": {"file": DUMP, "sha256": hashlib.sha256(dump).hexdigest(), "tables": {}},
        "files": entries,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest))
    return directory


@pytest.mark.django_db
def test_it_refuses_to_restore_a_damaged_backup(tmp_path, media):
    backup_dir = fake_backup(tmp_path / "backup", files={"report.txt": b"original"})
    (backup_dir / FILES / "report.txt").write_bytes(b"tampered")
    tickets = Ticket.objects.count()
    with pytest.raises(CommandError, match=r"damaged: files/report.txt does not match its checksum"):
        call_command("restore", str(backup_dir))
    assert Ticket.objects.count() == tickets
    assert not (media / "report.txt").exists()


@pytest.mark.django_db
def test_it_refuses_a_file_that_points_outside_the_backup(tmp_path):
    backup_dir = fake_backup(tmp_path / "backup")
    manifest = json.loads((backup_dir / MANIFEST).read_text())
    manifest["files"] = [{"name": "../../etc/passwd", "size": 1, "sha256": "0" * 64}]
    (backup_dir / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="points outside the backup"):
        call_command("restore", str(backup_dir))


@pytest.mark.django_db
def test_it_refuses_to_restore_into_a_database_that_is_not_empty(tmp_path, media, make_ticket):
    make_ticket("Already here")
    backup_dir = fake_backup(tmp_path / "backup", files={"report.txt": b"original"})
    with pytest.raises(CommandError, match="is not empty; restore into a new, empty database"):
        call_command("restore", str(backup_dir))
    assert list(Ticket.objects.values_list("title", flat=True)) == ["Already here"]
    assert not (media / "report.txt").exists()


@pytest.mark.django_db
def test_it_refuses_what_is_not_a_backup(tmp_path):
    with pytest.raises(CommandError, match="has no manifest.json"):
        call_command("restore", str(tmp_path))


@pytest.mark.django_db
def test_it_backs_up_only_into_an_empty_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(CommandError, match="is not empty"):
        call_command("backup", str(tmp_path))
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
    assert not Comment.objects.exists()
