"""Inbound Jira webhook throughput: deliveries per second and answer latency (p50/p95/p99).

Runs the real product under gunicorn on 127.0.0.1 against its own database
(``itsm_bench_jira`` on the embedded PostgreSQL unless ``--database``), posts signed
``jira:issue_updated`` / ``comment_created`` deliveries from concurrent clients (a share of
them redeliveries with the same ``X-Atlassian-Webhook-Identifier``), checks every answer, and
then (``--process``) lets a one-shot worker apply the stored deliveries and times that too.

    .venv/bin/python bench/jira_webhook.py --deliveries 2000 --clients 8 --web-workers 2 --process
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "integrations" / "jira" / "tests" / "fixtures"
SECRET = "bench-webhook-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(database: str, conn_max_age: int) -> dict[str, str]:
    env = {
        "CONN_MAX_AGE": str(conn_max_age),
        **os.environ,
        "EMBEDDED_DATABASE_NAME": database,
        "ITSM_ENV": "development",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "JIRA_WEBHOOK_SECRET": SECRET,
        "JIRA_PROJECT_KEY": "ITSUP",
        "JIRA_BASE_URL": "",
        "LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("DATABASE_URL", None)
    return env


def deliveries(count: int, redelivery_share: float, run: str) -> list[tuple[bytes, str]]:
    """(body, identifier) pairs: issues spread over 200 keys, some comments, some redeliveries."""
    issue = json.loads((FIXTURES / "jira-webhook-issue-updated.json").read_text())
    comment = json.loads((FIXTURES / "jira-webhook-comment-created.json").read_text())
    items: list[tuple[bytes, str]] = []
    every = round(1 / redelivery_share) if redelivery_share > 0 else 0
    for number in range(count):
        if every and items and number % every == 0:
            items.append(items[-1])  # Jira retrying the same delivery
            continue
        key_number = 1000 + number % 200
        template = comment if number % 4 == 3 else issue
        data = copy.deepcopy(template)
        data["issue"]["id"], data["issue"]["key"] = str(50000 + key_number), f"ITSUP-{key_number}"
        if template is comment:
            data["comment"]["id"] = str(900000 + number)
        else:
            data["issue"]["fields"]["updated"] = (
                f"2025-03-14T10:{number // 60 % 60:02d}:{number % 60:02d}.000+0000"
            )
            data["issue"]["fields"]["summary"] = f"Bench issue {key_number} ({number})"
        body = json.dumps(data, separators=(",", ":")).encode()
        items.append((body, f"{run}-{number}"))
    return items


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--redeliveries", type=float, default=0.1, help="share of deliveries sent twice")
    parser.add_argument("--database", default="itsm_bench_jira")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=0,
        help="CONN_MAX_AGE of the web processes (the product's default is 0: a connection per request)",
    )
    parser.add_argument("--process", action="store_true", help="then apply them with a one-shot worker")
    options = parser.parse_args()

    env = environment(options.database, options.conn_max_age)
    python = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    web = subprocess.Popen(
        [
            python,
            "-m",
            "gunicorn",
            "itsm.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(options.web_workers),
            "--threads",
            str(options.threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=10).status_code in (200, 503):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or web.poll() is not None:
                print("the web server did not start", file=sys.stderr)
                return 1
            time.sleep(0.2)

        run = uuid.uuid4().hex[:8]
        items = deliveries(options.deliveries, options.redeliveries, run)
        local = threading.local()
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()

        def send(item: tuple[bytes, str]) -> None:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            body, identifier = item
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature": sign(body),
                "X-Atlassian-Webhook-Identifier": identifier,
                "X-Atlassian-Webhook-Flow": "Primary",
            }
            started = time.perf_counter()
            response = session.post(
                f"{base}/api/integrations/jira/webhook/", data=body, headers=headers, timeout=30
            )
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        for item in items[: min(20, len(items))]:  # warm the workers' connections
            send((item[0], f"warm-{run}-{item[1]}"))
        latencies.clear()
        statuses.clear()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=options.clients) as pool:
            list(pool.map(send, items))
        wall = time.perf_counter() - started
        unique = len({identifier for _body, identifier in items})
        print(
            f"Jira webhook: {len(items)} deliveries ({unique} unique, {len(items) - unique} redeliveries) "
            f"from {options.clients} clients to gunicorn {options.web_workers}x{options.threads} "
            f"(CONN_MAX_AGE={options.conn_max_age}) on {os.cpu_count()} CPU(s), load average "
            f"{os.getloadavg()[0]:.1f}"
        )
        print(f"  answers: {dict(sorted(statuses.items()))}")
        print(f"  throughput: {len(items) / wall:.0f} deliveries/s over {wall:.2f} s")
        print(
            f"  latency ms: p50 {percentile(latencies, 0.5) * 1000:.1f}  p95 {percentile(latencies, 0.95) * 1000:.1f}"
            f"  p99 {percentile(latencies, 0.99) * 1000:.1f}  max {max(latencies) * 1000:.1f}"
            f"  mean {statistics.mean(latencies) * 1000:.1f}"
        )
        bad = {code: n for code, n in statuses.items() if code not in (200, 202)}
        if bad:
            print(f"  unexpected answers: {bad}", file=sys.stderr)
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(timeout=15)
        except subprocess.TimeoutExpired:
            web.kill()

    if options.process:
        started = time.perf_counter()
        subprocess.run(
            [python, "manage.py", "procrastinate", "worker", "--queues", "jira", "--one-shot"],
            cwd=ROOT,
            env=env,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - started
        print(
            f"  worker applied {unique} stored deliveries in {elapsed:.1f} s "
            f"({unique / elapsed:.0f} deliveries/s, one worker, including start-up)"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
