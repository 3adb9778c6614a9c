"""Run the web server and a worker together; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server (gunicorn) and a background worker together until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--web-workers", default=os.environ.get("WEB_CONCURRENCY", "2"))

    def handle(self, *args, host: str, port: str, web_workers: str, **options):
        python = sys.executable
        commands = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "itsm.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                web_workers,
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ],
            "worker": [python, "manage.py", "procrastinate", "worker"],
        }
        processes = {name: subprocess.Popen(command) for name, command in commands.items()}  # noqa: S603
        self.stdout.write(f"Serving on http://{host}:{port} with a worker. Ctrl-C stops both.")
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                exited = [name for name, process in processes.items() if process.poll() is not None]
                if exited:
                    self.stderr.write(f"{', '.join(exited)} exited; stopping the rest.")
                    break
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        self.stdout.write("Stopped.")
