"""Small local HTTP servers that behave like n8n, Teams and Slack (127.0.0.1, port 0).

A ``FakeService`` answers from a script of ``Reply`` objects (the last one repeats) and
records every request. ``Reply(hang=True)`` never answers until the server stops: the caller's
timeout is what ends the request (a slow receiver, without any sleeping in the tests).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: str | bytes = ""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


# How the services answer, per the contracts (shared/contracts/*-responses.json).
N8N_ACCEPTED = Reply(200, '{"message":"Workflow was started"}', {"Content-Type": "application/json"})
N8N_INACTIVE = Reply(
    404,
    '{"code":404,"message":"The requested webhook \\"POST itsm-critical-ticket\\" is not registered.",'
    '"hint":"The workflow must be active for a production URL to run successfully."}',
    {"Content-Type": "application/json"},
)
TEAMS_WORKFLOWS_ACCEPTED = Reply(202, "")
TEAMS_LEGACY_OK = Reply(200, "1", {"Content-Type": "text/plain; charset=utf-8"})
TEAMS_LEGACY_THROTTLED = Reply(
    200,
    "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with "
    "ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=abc.0,MS-CV=abc.0..",
    {"Content-Type": "text/plain; charset=utf-8"},
)
TEAMS_LEGACY_BAD_CARD = Reply(
    200,
    "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 400 with "
    "ContextId tcid=0,server=BL2PEPF000001C8,cv=abc.0..",
    {"Content-Type": "text/plain; charset=utf-8"},
)
SLACK_OK = Reply(200, "ok", {"Content-Type": "text/plain"})
SLACK_INVALID_PAYLOAD = Reply(400, "invalid_payload", {"Content-Type": "text/plain"})
SLACK_CHANNEL_NOT_FOUND = Reply(404, "channel_not_found", {"Content-Type": "text/plain"})
SLACK_ARCHIVED = Reply(410, "channel_is_archived", {"Content-Type": "text/plain"})
SLACK_RATE_LIMITED = Reply(429, "", {"Retry-After": "120"})
SLACK_ROLLUP_ERROR = Reply(500, "rollup_error", {"Content-Type": "text/plain"})


class FakeService:
    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [Reply()]
        self.requests: list[Recorded] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with service._lock:
                    service.requests.append(
                        Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    index = min(len(service.requests), len(service.replies)) - 1
                    reply = service.replies[index]
                if reply.hang:
                    service.release.wait(timeout=30)
                    return
                payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def start(self) -> FakeService:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def fake_service(*replies: Reply) -> Iterator[FakeService]:
    service = FakeService(*replies).start()
    try:
        yield service
    finally:
        service.stop()


def closed_port_url() -> str:
    """An address where nothing listens (connection refused): a receiver that is down."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def worker_took_jobs() -> None:
    """What a worker does when it picks a job up: it is no longer waiting ("todo").

    Tests that call an attempt directly use this, so that the attempt may schedule its retry
    (one waiting job per delivery, by queueing lock), as it does inside a real worker.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status = 'todo'")


def empty_queue() -> None:
    """Transactional tests commit jobs (and the worker defers periodic ones): leave none behind."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE status <> 'doing'")
