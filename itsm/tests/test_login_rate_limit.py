"""The login lockout counts across web processes: they share one cache (a PostgreSQL table).

Two real gunicorn servers run against the test database; failed sign-ins alternate between
them. With a cache per process each would have seen half the failures and let the sixth try
through; with the shared cache the fifth failure locks the account on both.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from conftest import PASSWORD

LOCKED = "Too many failed login attempts"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment() -> dict[str, str]:
    """The environment of a web process that uses this test's database."""
    environment = {**os.environ, "ITSM_ENV": "test", "DJANGO_SETTINGS_MODULE": "itsm.settings"}
    name = connection.settings_dict["NAME"]
    if settings.EMBEDDED_DATABASE:
        environment["EMBEDDED_DATABASE_NAME"] = name
    else:
        url = urlsplit(os.environ["DATABASE_URL"])
        environment["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{name}"))
    environment.pop("CACHE_URL", None)  # the default: the shared database cache
    return environment


@contextmanager
def web_servers(count: int):
    """``count`` separate gunicorn processes (one worker each); yields their base URLs."""
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "itsm.wsgi:application", "--bind", f"127.0.0.1:{port}"]
            + ["--workers", "1", "--log-level", "warning"],
            env=server_environment(),
            cwd=settings.BASE_DIR,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for url, process in zip(urls, processes, strict=True):
            while True:
                assert process.poll() is None, f"the server on {url} exited"
                try:
                    requests.get(f"{url}/accounts/login/", timeout=15)
                    break
                except (requests.ConnectionError, requests.Timeout):
                    assert time.monotonic() < deadline, f"the server on {url} did not start"
                    time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def sign_in(url: str, email: str, password: str) -> requests.Response:
    session = requests.Session()
    # Both processes serve one site, as behind a load balancer (allauth keys the count by site).
    session.headers["Host"] = "localhost"
    page = session.get(f"{url}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        f"{url}/accounts/login/",
        data={"login": email, "password": password, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_failed_sign_ins_are_counted_across_processes(agent):
    cache.clear()
    EmailAddress.objects.create(user=agent, email=agent.email, verified=True, primary=True)
    assert settings.ACCOUNT_RATE_LIMITS["login_failed"].endswith("5/5m/key")
    with web_servers(2) as (first, second):
        for attempt in range(5):  # first, second, first, second, first
            response = sign_in((first, second)[attempt % 2], agent.email, "wrong password")
            assert response.status_code == 200 and LOCKED not in response.text
        # The second process saw two failures itself; the shared count is five: locked.
        assert LOCKED in sign_in(second, agent.email, "wrong password").text
        # Locked on both, even with the right password.
        for url in (first, second):
            response = sign_in(url, agent.email, PASSWORD)
            assert response.status_code == 200 and LOCKED in response.text
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM itsm_cache WHERE cache_key LIKE %s", ["%login_failed%"])
        assert cursor.fetchone()[0] >= 1


@pytest.mark.django_db
def test_migrate_makes_the_cache_table():
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE itsm_cache")
    call_command("migrate", verbosity=0)
    assert "itsm_cache" in connection.introspection.table_names()
    cache.set("probe", 1)
    assert cache.get("probe") == 1
