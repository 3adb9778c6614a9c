import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from itsm.settings import check_production_settings

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3J9-xQ2_vLp8Zr4Tn6Wm1Yb5Hc7Fd0Gs2Ja4Ke6Mu8Ni0Oq3Pw5Rv7Sx9Ty1Uz"


def test_it_accepts_sound_production_settings():
    check_production_settings(secret_key=STRONG_KEY, debug=False, allowed_hosts=["desk.example.com"])


@pytest.mark.parametrize(
    ("secret_key", "debug", "hosts", "message"),
    [
        ("", False, ["desk.example.com"], "SECRET_KEY"),
        ("short", False, ["desk.example.com"], "SECRET_KEY"),
        ("a" * 60, False, ["desk.example.com"], "SECRET_KEY"),
        ("django-insecure-" + STRONG_KEY, False, ["desk.example.com"], "SECRET_KEY"),
        (STRONG_KEY, True, ["desk.example.com"], "DEBUG"),
        (STRONG_KEY, False, ["*"], "ALLOWED_HOSTS"),
        (STRONG_KEY, False, [], "ALLOWED_HOSTS"),
    ],
)
def test_it_refuses_unsafe_production_settings(secret_key, debug, hosts, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        check_production_settings(secret_key=secret_key, debug=debug, allowed_hosts=hosts)


def _load_settings(extra_env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    env.update(
        {"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "ITSM_VAR_DIR": str(tmp_path), **extra_env}
    )
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "itsm.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_with_a_missing_secret(tmp_path):
    result = _load_settings({"ITSM_ENV": "production", "ALLOWED_HOSTS": "desk.example.com"}, tmp_path)
    assert result.returncode != 0
    assert "Refusing to start in production" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_debug_and_wildcard_hosts(tmp_path):
    result = _load_settings(
        {"ITSM_ENV": "production", "SECRET_KEY": STRONG_KEY, "DEBUG": "true", "ALLOWED_HOSTS": "*"}, tmp_path
    )
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_starts_with_sound_settings(tmp_path):
    result = _load_settings(
        {"ITSM_ENV": "production", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "desk.example.com"}, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_development_generates_and_keeps_a_local_secret(tmp_path):
    first = _load_settings({"ITSM_ENV": "development"}, tmp_path)
    assert first.returncode == 0, first.stderr
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    _load_settings({"ITSM_ENV": "development"}, tmp_path)
    assert (tmp_path / "secret_key").read_text() == key


def test_mail_goes_to_smtp_when_configured(tmp_path):
    env = {"ITSM_ENV": "development", "EMAIL_URL": "smtp+tls://desk:pw@smtp.example.com:587"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
            "ITSM_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "itsm.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
        "True",
    ]


def test_mail_goes_to_the_console_by_default(tmp_path):
    result = _load_settings({"ITSM_ENV": "development"}, tmp_path)
    assert result.returncode == 0, result.stderr
    code = "import django; django.setup(); from django.conf import settings; print(settings.EMAIL_BACKEND)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if k != "EMAIL_URL"},
            "ITSM_ENV": "development",
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
            "ITSM_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "itsm.settings",
        },
    )
    assert out.stdout.strip() == "django.core.mail.backends.console.EmailBackend"
