"""Runbook tests: a real SSH server (asyncssh) and a real HTTP server on 127.0.0.1, started once
per session; items, connections and runbooks made through the real actions.

The SSH server runs each command with ``/bin/sh -c`` in a scratch directory of its own and
logs it, as an OpenSSH server would run it in the user's shell. The HTTP server answers like
a service's API: 2xx with a JSON echo, or the status a path asks for (``/status/503``).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncssh
import pytest

from cmdb import actions as cmdb_actions
from conftest import make_user
from itsm.models import Role
from runbooks import actions
from runbooks.models import RunbookSettings

SSH_PASSWORD = "ssh-test-password-9f3c"  # pragma: allowlist secret
HTTP_TOKEN = "Bearer http-test-token-77aa"  # pragma: allowlist secret
WEBHOOK_SECRET = "webhook-test-secret-31d0"  # pragma: allowlist secret


# --- the SSH server ------------------------------------------------------------------------------------
@dataclass
class SshServer:
    port: int
    fingerprint: str
    client_key: str  # OpenSSH private key of the authorised client
    workdir: Path
    commands: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.commands.clear()
        for path in self.workdir.iterdir():
            path.unlink()


class _Server(asyncssh.SSHServer):
    def __init__(self, authorized: asyncssh.SSHKey) -> None:
        self.authorized = authorized

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == "runner" and password == SSH_PASSWORD

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == "runner" and key.public_data == self.authorized.public_data


@pytest.fixture(scope="session")
def ssh_server():
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    workdir = Path(tempfile.mkdtemp(prefix="runbooks-ssh-"))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server: dict = {}

    async def handle(process: asyncssh.SSHServerProcess) -> None:
        command = process.command or ""
        state.commands.append(command)
        shell = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            cwd=workdir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await shell.communicate()
        process.stdout.write(stdout.decode())
        process.stderr.write(stderr.decode())
        process.exit(shell.returncode or 0)

    async def start() -> None:
        server["acceptor"] = await asyncssh.create_server(
            lambda: _Server(client_key.convert_to_public()),
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            process_factory=handle,
        )
        started.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True, name="test-ssh-server")
    thread.start()
    started.wait(10)
    port = server["acceptor"].sockets[0].getsockname()[1]
    state = SshServer(
        port=port,
        fingerprint=host_key.get_fingerprint("sha256"),
        client_key=client_key.export_private_key("openssh").decode(),
        workdir=workdir,
    )
    yield state
    loop.call_soon_threadsafe(server["acceptor"].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


# --- the HTTP server ------------------------------------------------------------------------------------
@dataclass
class HttpServer:
    url: str
    requests: list[dict] = field(default_factory=list)


@pytest.fixture(scope="session")
def http_server():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            received.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            status = 200
            if self.path.startswith("/status/"):
                status = int(self.path.split("/")[2])
            payload = json.dumps({"ok": status < 400, "path": self.path, "echo": body}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="test-http-server")
    thread.start()
    yield HttpServer(url=f"http://127.0.0.1:{httpd.server_address[1]}", requests=received)
    httpd.shutdown()


# --- data --------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _local_targets(settings):
    # The test servers listen on 127.0.0.1; the product refuses loopback targets otherwise.
    settings.RUNBOOKS_ALLOW_LOCAL_TARGETS = True


@pytest.fixture
def lead(db, team):
    user = make_user("lena.lead@example.com", Role.AGENT, full_name="Lena Lead")
    team.members.add(user)
    team.lead = user
    team.save(update_fields=["lead"])
    return user


@pytest.fixture
def web01(db, team):
    return cmdb_actions.do_create_item(
        actor=None,
        name="web01",
        type="server",
        environment="prod",
        hostnames=["web01.example.com"],
        owner_team=team,
    )


@pytest.fixture
def ssh_connection(db, admin_user, ssh_server, web01):
    return actions.do_save_connection(
        None,
        actor=admin_user,
        values={
            "name": "web01-ssh",
            "kind": "ssh",
            "host": "127.0.0.1",
            "port": ssh_server.port,
            "username": "runner",
            "host_key_fingerprint": ssh_server.fingerprint,
        },
        secret=ssh_server.client_key,
        items=[web01],
    )


@pytest.fixture
def http_connection(db, admin_user, http_server):
    return actions.do_save_connection(
        None,
        actor=admin_user,
        values={"name": "api", "kind": "http", "base_url": http_server.url, "auth_header": "Authorization"},
        secret=HTTP_TOKEN,
    )


@pytest.fixture
def make_runbook(db, admin_user, team):
    """``make_runbook(steps, **version)``: created and published through the real actions."""

    def make(steps, *, name="Restart a service", parameters=None, match=None, **version):
        runbook = actions.do_create_runbook(
            actor=admin_user,
            name=name,
            owner_team=team,
            version={
                "steps": steps,
                "parameters": parameters or [],
                "match": match or {"keywords": ["restart"], "item_types": ["server"]},
                **version,
            },
        )
        actions.do_publish_runbook(runbook, actor=admin_user)
        return runbook

    return make


@pytest.fixture
def incident(make_ticket, web01, agent, team):
    from cmdb.actions import do_link_ticket_item

    ticket = make_ticket("Please restart nginx on web01", description="nginx is stuck on web01", team=team)
    do_link_ticket_item(ticket, web01, actor=agent)
    return ticket


@pytest.fixture
def auto_mode(db):
    row = RunbookSettings.load()
    row.mode = "auto"
    row.save()
    return row
