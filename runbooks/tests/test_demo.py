"""``seed_demo`` adds a connection to a safe local target, a disabled SSH example and two
runbooks, once."""

import pytest
from django.core.management import call_command

from runbooks.models import InfrastructureConnection, Runbook

pytestmark = pytest.mark.django_db


def test_the_demo_has_connections_and_two_published_runbooks():
    call_command("seed_demo")
    health = InfrastructureConnection.objects.get(name="demo-health")
    assert health.kind == "http" and health.enabled and health.base_url.endswith("127.0.0.1:8000")
    ssh = InfrastructureConnection.objects.get(name="demo-ssh")
    assert ssh.kind == "ssh" and not ssh.enabled and ssh.has_secret and ssh.items.exists()
    assert {runbook.name: runbook.published_version().number for runbook in Runbook.objects.all()} == {
        "Check the service desk's health": 1,
        "Restart a web service": 1,
    }
    call_command("seed_demo")
    assert InfrastructureConnection.objects.count() == 2 and Runbook.objects.count() == 2
