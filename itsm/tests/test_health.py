import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from itsm.models import WorkerHeartbeat

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_it_reports_the_database_worker_and_queue(client):
    WorkerHeartbeat.objects.create(worker="w1", beat_at=timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["latency_ms"] >= 0
    assert body["worker"]["heartbeat_age_seconds"] < 60
    assert body["worker"]["stale"] is False
    assert body["queue"] == {"todo": 0, "doing": 0}


def test_it_says_the_worker_is_stale_without_a_heartbeat(client):
    body = client.get("/healthz").json()
    assert body["worker"] == {"heartbeat_age_seconds": None, "stale": True}


def test_it_counts_waiting_jobs(client):
    from itsm.tasks import heartbeat

    heartbeat.defer()
    assert client.get("/healthz").json()["queue"]["todo"] == 1


def test_metrics_speak_prometheus(client):
    text = client.get("/metrics").content.decode()
    assert "itsm_database_up 1" in text
    assert 'itsm_queue_jobs{status="todo"}' in text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_answers_503_when_the_database_is_down(tmp_path):
    """A real web process pointed at a database that does not answer."""
    port, dead_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://nobody@127.0.0.1:{dead_port}/nothing",
        "ITSM_ENV": "development",
        "ITSM_VAR_DIR": str(tmp_path),
        "DATABASE_CONNECT_TIMEOUT": "2",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "itsm.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            # Load the app before binding, so the port answers only once it can serve.
            "--preload",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "error"
        assert body["database"]["ok"] is False
        assert body["database"]["error"]
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready" and ready.json()["database"]["ok"] is False
    finally:
        process.terminate()  # gunicorn stops gracefully; on a busy machine that can take a while
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def fresh_readiness():
    from itsm import health

    health.forget_migrations()
    yield
    health.forget_migrations()


def test_it_is_ready_when_every_migration_is_applied(client, fresh_readiness):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": {"ok": True, "error": None},
        "migrations": {"pending": 0},
    }
    assert response["Cache-Control"].startswith("max-age=0")


def test_it_is_not_ready_while_a_migration_is_pending(client, fresh_readiness):
    from django.db import connection

    with connection.cursor() as cursor:  # as if this code came before its release step
        cursor.execute("DELETE FROM django_migrations WHERE app = 'tickets'")
        deleted = cursor.rowcount
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert response.json()["migrations"]["pending"] == deleted > 0


def test_readiness_answers_get_only(client, fresh_readiness):
    assert client.post("/readyz").status_code == 405


@pytest.mark.parametrize(
    ("path", "content_type"), [("/api/tickets/", "application/json"), ("/tickets/", "text/html")]
)
def test_a_database_that_does_not_answer_is_a_503_not_a_500(rf, path, content_type):
    """In a view (the middleware) or in a middleware before it (``handler500``); the restart under
    load is tests/test_fault_database_restart.py."""
    from django.db import InterfaceError, OperationalError

    from itsm.middleware import DatabaseUnavailableMiddleware
    from itsm.views import server_error

    request = rf.get(path)
    in_view = DatabaseUnavailableMiddleware(lambda request: None).process_exception(
        request, OperationalError("connection refused")
    )
    try:
        raise InterfaceError("connection already closed")
    except InterfaceError:
        in_middleware = server_error(request)
    for response in (in_view, in_middleware):
        assert response.status_code == 503
        assert response["Content-Type"].startswith(content_type)
        assert response["Retry-After"] == "5"
        assert b"retry in a few seconds" in response.content
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(request).status_code == 500  # a bug stays a 500
    assert (
        DatabaseUnavailableMiddleware(lambda request: None).process_exception(request, ValueError()) is None
    )
