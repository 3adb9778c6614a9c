import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from itsm.models import ApiToken, Organisation, Role, Team, User

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_create_api_token_creates_the_user_and_prints_the_key_last():
    out = StringIO()
    call_command("create_api_token", "n8n@example.com", "--role", "agent", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    user = User.objects.get(email="n8n@example.com")
    assert user.role == Role.AGENT
    assert ApiToken.objects.get(user=user).digest == ApiToken.hash_key(key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/me/").json()["email"] == "n8n@example.com"


def test_create_api_token_refuses_an_unknown_role_and_creates_nothing():
    with pytest.raises(CommandError, match="valid roles are admin, agent, user, viewer"):
        call_command("create_api_token", "x@example.com", "--role", "wizard")
    assert not User.objects.filter(email="x@example.com").exists()


def test_create_api_token_refuses_a_bad_email():
    with pytest.raises(CommandError, match="Invalid email"):
        call_command("create_api_token", "not-an-email", "--role", "agent")
    assert not User.objects.exists()


def test_create_api_token_bad_role_exits_non_zero_from_the_shell():
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "y@example.com", "--role", "wizard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "valid roles are admin, agent, user, viewer" in result.stderr


def test_seed_demo_is_idempotent_and_prints_the_logins():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    counts = (User.objects.count(), Team.objects.count(), Organisation.objects.count())
    call_command("seed_demo", stdout=StringIO())
    assert (User.objects.count(), Team.objects.count(), Organisation.objects.count()) == counts
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    assert "agent@demo.example" in out.getvalue()
    agent = User.objects.get(email="agent@demo.example")
    assert agent.check_password("demo-pass-2026")
    assert Team.objects.get(name="Network").lead == agent


def test_the_migrations_enable_vector_and_pg_trgm():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        names = {row[0] for row in cursor.fetchall()}
    assert {"vector", "pg_trgm"} <= names
