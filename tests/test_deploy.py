"""The production settings pass Django's deployment checks, also with read replicas and object
storage configured, and collect the static files for whitenoise (docs/deploy.md)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
# Nothing listens on port 9 (discard): the commands below must not need the database.
NO_DATABASE = "postgres://nobody@127.0.0.1:9/nothing"


def production_environment(var_dir: Path, **extra: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        # DJANGO_ALLOW_ASYNC_UNSAFE: the browser tests set it in this process; no deployment has it.
        if not key.startswith(("DATABASE_", "STORAGE_", "AWS_", "DEBUG", "SECURE_", "DJANGO_ALLOW_ASYNC"))
    }
    environment.update(
        ITSM_ENV="production",
        ITSM_VAR_DIR=str(var_dir),
        DATABASE_URL=NO_DATABASE,
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="desk.example.com",
        SITE_URL="https://desk.example.com",
        EMAIL_URL="smtp+tls://desk@mail.example.com:587",
        RUNBOOKS_SECRET_KEYS=Fernet.generate_key().decode(),
        **extra,
    )
    return environment


def manage(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="one-machine"),
        pytest.param(
            {
                "DATABASE_REPLICA_URLS": f"{NO_DATABASE},{NO_DATABASE}",
                "STORAGE_URL": "s3://desk-files/itsm?endpoint_url=http://127.0.0.1:9&region=eu-west-1",
            },
            id="replicas-and-object-storage",
        ),
    ],
)
def test_check_deploy_is_clean_with_the_production_settings(tmp_path, extra):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", environment=production_environment(tmp_path, **extra)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_fails_on_an_unsafe_setting(tmp_path):
    environment = production_environment(tmp_path, SECURE_HSTS_SECONDS="0")
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=environment)
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout


def test_production_collectstatic_makes_hashed_compressed_files(tmp_path):
    result = manage("collectstatic", "--noinput", environment=production_environment(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    static = tmp_path / "staticfiles"
    manifest = json.loads((static / "staticfiles.json").read_text())["paths"]
    hashed = manifest["itsm/app.css"]
    assert hashed != "itsm/app.css"  # the name carries the content's hash
    assert (static / hashed).exists()
    assert (static / f"{hashed}.gz").exists()
    assert any(key.startswith("django_htmx/") for key in manifest)  # htmx, served by us


def test_the_documented_worker_groups_cover_every_queue():
    """docs/deploy.md splits the queues over worker groups: none may be left without a worker."""
    import re

    from procrastinate.contrib.django import app

    text = (ROOT / "docs" / "deploy.md").read_text()
    documented = [set(line.split(",")) for line in re.findall(r"^QUEUES=([\w,]+)$", text, re.MULTILINE)]
    assert len(documented) == 5
    covered = set().union(*documented)
    assert {task.queue for task in app.tasks.values()} <= covered
    assert sum(len(group) for group in documented) == len(covered)  # each queue in one group
