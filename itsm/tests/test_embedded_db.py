"""The embedded PostgreSQL bootstrap: a fresh data directory, then a restart keeps the data."""

import psycopg
import pytest

from itsm.embedded_db import connection_settings, ensure_database, ensure_server, stop_server


def _connect(settings: dict) -> psycopg.Connection:
    return psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], autocommit=True
    )


@pytest.mark.slow
def test_it_initialises_a_fresh_data_directory_and_survives_a_restart(tmp_path):
    data_dir = tmp_path / "pgdata"
    settings = ensure_server(data_dir)
    try:
        assert (data_dir / "PG_VERSION").read_text().strip() == "18"
        settings["NAME"] = "itsm_bootstrap"
        ensure_database(settings)
        ensure_database(settings)  # a second call finds it and does nothing
        with _connect(settings) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
            connection.execute("CREATE TABLE kept (id int primary key, v vector(3))")
            connection.execute("INSERT INTO kept VALUES (1, '[1,2,3]')")

        assert stop_server(data_dir) is True
        assert stop_server(data_dir) is False

        settings = ensure_server(data_dir)
        settings["NAME"] = "itsm_bootstrap"
        with _connect(settings) as connection:
            assert connection.execute("SELECT v::text FROM kept WHERE id = 1").fetchone() == ("[1,2,3]",)
            extensions = {row[0] for row in connection.execute("SELECT name FROM pg_available_extensions")}
        assert {"vector", "pg_trgm"} <= extensions
    finally:
        stop_server(data_dir)


def test_it_reads_the_socket_directory_from_the_server_uri():
    settings = connection_settings("postgresql://postgres:@/postgres?host=/work/var/pgdata")
    assert settings["HOST"] == "/work/var/pgdata"
    assert settings["USER"] == "postgres"
    assert settings["MAINTENANCE_NAME"] == "postgres"
