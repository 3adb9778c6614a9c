"""Running one action over a connection: an SSH command, an HTTP request, a signed webhook.

Never raises for trouble on the far side: the outcome says what happened (exit code, HTTP
status, output, error). Every text that leaves here is masked (``crypto.mask``) with the
connection's secret, so a credential echoed by a server or quoted in an error is not stored.

- SSH (asyncssh): the server's host key must have the pinned SHA256 fingerprint, or the
  connection is refused before authenticating; a connection without a fingerprint is refused.
  Loopback and unspecified addresses are refused (no connector runs commands on the
  platform's own machine) unless ``RUNBOOKS_ALLOW_LOCAL_TARGETS`` (tests, labs).
- HTTP: ``base_url`` + the step's path, the secret as the value of ``auth_header``; no redirects.
- Webhook: the signed outbound webhook code of ``integrations.webhooks`` (``X-ITSM-Signature``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import ipaddress
import json
import socket
import time
import warnings
from dataclasses import dataclass
from typing import Any

import requests
from cryptography.utils import CryptographyDeprecationWarning
from django.conf import settings

with warnings.catch_warnings():
    # asyncssh still names the DSA key classes cryptography deprecates; DSA is never offered here.
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import asyncssh

from integrations.webhooks import transport as webhook_transport
from runbooks import crypto
from runbooks.models import ConnectionKind, InfrastructureConnection, SshAuth

USER_AGENT = "ITSM-Runbooks/1.0"
CONNECT_TIMEOUT = 15


@dataclass
class Outcome:
    exit_code: int | None = None
    http_status: int | None = None
    output: str = ""
    error: str = ""
    # Whether the action may have reached the target (a session opened, a request sent): a
    # failed step that never did has nothing to roll back.
    started: bool = False


def _truncate(text: str) -> str:
    limit = settings.RUNBOOKS_OUTPUT_MAX_CHARS
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters cut)"


def _finish(outcome: Outcome, secrets: list[str]) -> Outcome:
    outcome.output = _truncate(crypto.mask(outcome.output, secrets))
    outcome.error = crypto.mask(outcome.error, secrets)[:2000]
    return outcome


# --- SSH ---------------------------------------------------------------------------------------------
class HostRefused(Exception):
    pass


def check_host_allowed(host: str, port: int) -> None:
    """Refuse addresses of this machine (loopback, unspecified), unless allowed for tests/labs."""
    if settings.RUNBOOKS_ALLOW_LOCAL_TARGETS:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise HostRefused(f"cannot resolve {host}: {error.strerror or error}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address.is_loopback or address.is_unspecified:
            raise HostRefused(
                f"{host} is this machine ({address}): runbooks never run commands on the platform's own machine"
            )


class PinnedHostKeyClient(asyncssh.SSHClient):
    """Accepts the server only when its host key has the pinned fingerprint."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.offered = ""

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.offered = key.get_fingerprint("sha256")
        return hmac.compare_digest(self.offered, self.fingerprint)


async def _ssh(connection: InfrastructureConnection, secret: str, command: str, timeout: int) -> Outcome:
    client = PinnedHostKeyClient(connection.host_key_fingerprint.strip())
    started = False
    options: dict[str, Any] = {
        "username": connection.username,
        # Trust nothing but the pinned key: an empty trusted set makes asyncssh ask the client.
        "known_hosts": ([], [], []),
        "agent_path": None,
        "config": [],
        # A step's timeout is the command's; connecting has its own bound.
        "connect_timeout": CONNECT_TIMEOUT,
        "login_timeout": CONNECT_TIMEOUT,
    }
    if connection.ssh_auth == SshAuth.PASSWORD:
        options |= {
            "password": secret,
            "client_keys": None,
            "preferred_auth": "password,keyboard-interactive",
        }
    else:
        try:
            key = asyncssh.import_private_key(secret)
        except (asyncssh.KeyImportError, ValueError):
            return Outcome(error="the stored private key cannot be read (set it again)")
        options |= {"client_keys": [key], "password": None, "preferred_auth": "publickey"}
    try:
        async with asyncssh.connect(
            connection.host, connection.port, client_factory=lambda: client, **options
        ) as conn:
            try:
                result = await conn.run(command, check=False, timeout=timeout)
            except asyncssh.TimeoutError as error:
                partial = f"{error.stdout or ''}{error.stderr or ''}"
                return Outcome(output=str(partial), error=f"timed out after {timeout}s", started=True)
    except (asyncssh.HostKeyNotVerifiable, ValueError) as error:
        if client.offered:
            return Outcome(
                error=f"host key refused: the server offered {client.offered}, "
                f"the connection pins {connection.host_key_fingerprint}"
            )
        return Outcome(error=f"SSH refused: {error}")
    except asyncssh.PermissionDenied:
        return Outcome(error="SSH authentication refused (user or credential)")
    except (TimeoutError, asyncssh.Error, OSError) as error:
        return Outcome(error=f"SSH error: {error.__class__.__name__}: {error}", started=started)
    stdout, stderr = str(result.stdout or ""), str(result.stderr or "")
    output = stdout + (f"\n[stderr]\n{stderr}" if stderr else "")
    return Outcome(
        exit_code=result.exit_status if result.exit_status is not None else -1, output=output, started=True
    )


def _run(coroutine: Any) -> Any:
    """Run ``coroutine`` to completion from synchronous code, even under a running loop (a
    worker that calls sync tasks from its loop's thread): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_ssh(connection: InfrastructureConnection, command: str, timeout: int) -> Outcome:
    secret = ""
    try:
        if not connection.host_key_fingerprint.strip():
            return Outcome(error="no host key fingerprint is pinned: the connection refuses to connect")
        check_host_allowed(connection.host, connection.port)
        secret = connection.reveal_secret()
        outcome = _run(_ssh(connection, secret, command, timeout))
    except HostRefused as error:
        outcome = Outcome(error=str(error))
    except crypto.SecretUnreadable as error:
        outcome = Outcome(error=str(error))
    return _finish(outcome, [secret])


# --- HTTP and webhooks --------------------------------------------------------------------------------
def _url(connection: InfrastructureConnection, path: str) -> str:
    return connection.base_url.rstrip("/") + (path or "")


def run_http(
    connection: InfrastructureConnection, method: str, path: str, body: Any, timeout: int
) -> Outcome:
    try:
        secret = connection.reveal_secret()
    except crypto.SecretUnreadable as error:
        return Outcome(error=str(error))
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/plain, */*"}
    if connection.auth_header and secret:
        headers[connection.auth_header] = secret
    outcome = Outcome(started=True)
    try:
        with requests.request(
            method,
            _url(connection, path),
            json=body if body is not None and method not in ("GET", "HEAD") else None,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            outcome.http_status = response.status_code
            limit = settings.RUNBOOKS_OUTPUT_MAX_CHARS * 4
            chunk = next(response.iter_content(chunk_size=limit), b"") if method != "HEAD" else b""
            outcome.output = chunk.decode(response.encoding or "utf-8", errors="replace")
    except requests.ConnectionError as error:
        # Refused, unresolvable, or no answer to connect: the request never left.
        outcome.started = False
        outcome.error = f"HTTP error: {error.__class__.__name__}: {str(error)[:300]}"
    except requests.Timeout:
        outcome.error = f"timed out after {timeout}s"
    except requests.RequestException as error:
        outcome.error = f"HTTP error: {error.__class__.__name__}: {str(error)[:300]}"
    return _finish(outcome, [secret])


def run_webhook(connection: InfrastructureConnection, payload: dict[str, Any], timeout: int) -> Outcome:
    try:
        secret = connection.reveal_secret()
    except crypto.SecretUnreadable as error:
        return Outcome(error=str(error))
    body = json.dumps(payload, sort_keys=True, default=str).encode()
    headers = {"X-ITSM-Event": str(payload.get("event", ""))}
    if secret:
        headers[webhook_transport.SIGNATURE_HEADER] = webhook_transport.signature_header(
            secret, int(time.time()), body
        )
    result = webhook_transport.post(connection.base_url, body, headers, timeout=timeout)
    outcome = Outcome(
        http_status=result.status_code,
        output=result.body,
        started=result.status_code is not None or result.timed_out,
    )
    if result.status_code is None:
        outcome.error = result.error or "no answer"
    return _finish(outcome, [secret])


def kind_matches(connection: InfrastructureConnection, step_type: str) -> bool:
    return {"ssh": ConnectionKind.SSH, "http": ConnectionKind.HTTP, "webhook": ConnectionKind.WEBHOOK}.get(
        step_type
    ) == connection.kind
