"""Runbooks: matching a ticket against N published runbooks, and steps run per second over SSH.

    .venv/bin/python bench/runbooks.py                        # 200 runbooks, 100 matches, 30 SSH steps
    .venv/bin/python bench/runbooks.py --runbooks 2000 --steps 50

Uses its own database (``itsm_runbooks_bench`` on the embedded server, or ``BENCH_DATABASE_URL``).

1. N runbooks (published versions with keywords, categories and item types) loaded with two
   bulk INSERTs; then ``match_ticket`` on a ticket with an affected item: median and p95, and
   the queries it makes.
2. A local asyncssh server on 127.0.0.1 (it runs each command with ``/bin/sh -c``); one
   execution of S ``echo`` steps, each with its rollback declared, run by the executor as the
   worker runs it (lease, claim, connect with the pinned host key, run, record): steps per
   second and the time per step.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = [
    "nginx",
    "apache",
    "queue",
    "disk",
    "cache",
    "backup",
    "vpn",
    "dns",
    "cert",
    "memory",
    "cpu",
    "login",
]


def configure(database: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
    os.environ.setdefault("ITSM_ENV", "development")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    os.environ["RUNBOOKS_ALLOW_LOCAL_TARGETS"] = "true"  # the bench's SSH server is on 127.0.0.1
    os.environ["CMDB_EXTRACTION_ENABLED"] = "false"
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["EMBEDDED_DATABASE_NAME"] = database
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE runbooks_runbookexecution DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE runbooks_executionstep DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE runbooks_runbookversion DISABLE TRIGGER USER")
        cursor.execute(
            "TRUNCATE runbooks_executionstep, runbooks_runbookexecution, runbooks_runbookversion, runbooks_runbook, "
            "runbooks_infrastructureconnection_items, runbooks_infrastructureconnection, cmdb_configurationitem, "
            "cmdb_itemkey, tickets_ticket, procrastinate_jobs CASCADE"
        )
        for table in ("runbooks_runbookexecution", "runbooks_executionstep", "runbooks_runbookversion"):
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def load_runbooks(total: int) -> None:
    from django.utils import timezone

    from runbooks.models import Runbook, RunbookVersion, VersionStatus

    began = time.perf_counter()
    runbooks = Runbook.objects.bulk_create(Runbook(name=f"Runbook {n:05d}") for n in range(total))
    now = timezone.now()
    RunbookVersion.objects.bulk_create(
        RunbookVersion(
            runbook=runbook,
            number=1,
            status=VersionStatus.PUBLISHED,
            published_at=now,
            match={
                "keywords": [WORDS[n % len(WORDS)], WORDS[(n * 7) % len(WORDS)]],
                "categories": [f"category {n % 20}"],
                "item_types": ["server"] if n % 2 else ["database"],
            },
            parameters=[{"name": "service", "type": "string", "default": "nginx"}],
            steps=[{"name": "Restart", "type": "ssh", "command": "systemctl restart {service}"}],
        )
        for n, runbook in enumerate(runbooks)
    )
    print(f"loaded {total:,} published runbooks in {time.perf_counter() - began:.1f} s")


def matching_speed(repeat: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cmdb.actions import do_create_item, do_link_ticket_item
    from itsm.models import Role, User
    from runbooks.matching import match_ticket
    from tickets.actions import do_create_ticket

    requester, _ = User.objects.get_or_create(
        email="bench@runbooks-bench.example", defaults={"role": Role.USER}
    )
    item = do_create_item(actor=None, name="web01", type="server", hostnames=["web01.acme.example"])
    ticket = do_create_ticket(
        actor=requester,
        title="nginx on web01 answers 502, the queue grows",
        description="Since 09:00 the cache is cold and nginx restarts fail; disk is fine.",
    )
    do_link_ticket_item(ticket, item, actor=None)
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        matches = match_ticket(ticket)
        samples.append(time.perf_counter() - began)
    with CaptureQueriesContext(connection) as queries:
        match_ticket(ticket)
    best = matches[0]
    print(
        f"match_ticket: {len(matches):,} matches, best {best.confidence:.2f} ({'; '.join(best.reasons)}); "
        f"{len(queries)} queries; {percentiles(samples)}"
    )


def ssh_server() -> tuple[int, str, str, Path]:
    """A local asyncssh server in a thread: (port, host key fingerprint, client key, workdir)."""
    import asyncssh

    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    workdir = Path(tempfile.mkdtemp(prefix="runbooks-bench-"))
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict = {}

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
            return key.public_data == client_key.public_data

    async def handle(process: asyncssh.SSHServerProcess) -> None:
        shell = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", process.command or "", cwd=workdir, stdout=asyncio.subprocess.PIPE
        )
        stdout, _ = await shell.communicate()
        process.stdout.write(stdout.decode())
        process.exit(shell.returncode or 0)

    async def start() -> None:
        holder["server"] = await asyncssh.create_server(
            Server, "127.0.0.1", 0, server_host_keys=[host_key], process_factory=handle
        )
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    port = holder["server"].sockets[0].getsockname()[1]
    return (
        port,
        host_key.get_fingerprint("sha256"),
        client_key.export_private_key("openssh").decode(),
        workdir,
    )


def execution_speed(steps: int) -> None:
    from cmdb.models import ConfigurationItem
    from runbooks import actions
    from runbooks.executor import run_execution
    from runbooks.models import ExecutionStatus, Runbook, RunbookExecution
    from tickets.models import Ticket

    port, fingerprint, key, _workdir = ssh_server()
    item = ConfigurationItem.objects.get(name="web01")
    actions.do_save_connection(
        None,
        actor=None,
        values={
            "name": "bench-ssh",
            "kind": "ssh",
            "host": "127.0.0.1",
            "port": port,
            "username": "bench",
            "host_key_fingerprint": fingerprint,
        },
        secret=key,
        items=[item],
    )
    runbook = actions.do_create_runbook(
        actor=None,
        name="Bench steps",
        version={
            "match": {"item_types": ["server"]},
            "parameters": [{"name": "word", "type": "string", "default": "hello world"}],
            "steps": [
                {
                    "name": f"Step {n}",
                    "type": "ssh",
                    "command": f"echo {n} {{word}}",
                    "rollback": {"command": "true"},
                }
                for n in range(steps)
            ],
        },
    )
    actions.do_publish_runbook(runbook, actor=None)
    Runbook.objects.exclude(pk=runbook.pk).update(active=False)
    ticket = Ticket.objects.get(title__startswith="nginx on web01")
    _user("admin@runbooks-bench.example", "admin")  # the approver
    execution = actions.do_request_execution(
        ticket, runbook, actor=_user("agent@runbooks-bench.example", "agent")
    )
    RunbookExecution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.QUEUED)
    began = time.perf_counter()
    outcome = run_execution(execution.pk)
    elapsed = time.perf_counter() - began
    per_step = [
        (row.finished_at - row.started_at).total_seconds() for row in execution.step_runs.order_by("position")
    ]
    print(
        f"execution of {steps} SSH steps: {outcome} in {elapsed:.2f} s, {steps / elapsed:.1f} steps/s; "
        f"per step (connect with the pinned key, run, close) {percentiles(per_step)}"
    )


def _user(email: str, role: str):  # type: ignore[no-untyped-def]
    from itsm.models import User

    user, _ = User.objects.get_or_create(email=email, defaults={"role": role})
    return user


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runbooks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--steps", type=int, default=30, help="at most 50 (a runbook's limit)")
    parser.add_argument("--database", default="itsm_runbooks_bench")
    options = parser.parse_args()
    configure(options.database)
    reset()
    load_runbooks(options.runbooks)
    matching_speed(options.repeat)
    execution_speed(options.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
