"""Demo data: a connection to a local demo target and two runbooks.

No demo connection can run a command on the machine that serves the demo: the HTTP
connection calls the product's own health endpoint (read-only), and the SSH connection is
created *disabled* with a placeholder host key, as an example to copy (see docs/runbooks.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from cmdb.models import ConfigurationItem
from runbooks import actions
from runbooks.models import InfrastructureConnection, Runbook

HEALTH_RUNBOOK = "Check the service desk's health"
RESTART_RUNBOOK = "Restart a web service"


def seed_runbooks(sender: Any = None, **kwargs: Any) -> None:
    """Idempotent: existing connections and runbooks (by name) are left as they are."""
    items = list(ConfigurationItem.objects.filter(type="server").order_by("name")[:3])
    if not InfrastructureConnection.objects.filter(name="demo-health").exists():
        actions.do_save_connection(
            None,
            actor=None,
            values={
                "name": "demo-health",
                "kind": "http",
                "base_url": settings.SITE_URL,
                "description": "The product's own /healthz endpoint (read-only): a safe demo target.",
                "default_for_environments": ["prod", "staging", "dev"],
            },
        )
    if not InfrastructureConnection.objects.filter(name="demo-ssh").exists():
        actions.do_save_connection(
            None,
            actor=None,
            values={
                "name": "demo-ssh",
                "kind": "ssh",
                "enabled": False,
                "host": "web01.example.internal",
                "username": "runbook",
                "host_key_fingerprint": "SHA256:" + "A" * 43,
                "description": "Example only, disabled: point it at a real server, pin its host key, set its key.",
            },
            secret="placeholder-password-of-the-disabled-demo",  # noqa: S106  # pragma: allowlist secret
            items=items,
        )
    if not Runbook.objects.filter(name=HEALTH_RUNBOOK).exists():
        runbook = actions.do_create_runbook(
            actor=None,
            name=HEALTH_RUNBOOK,
            description="Asks the health endpoint whether the database and the worker answer.",
            version={
                "match": {
                    "keywords": ["slow", "down", "health", "outage"],
                    "item_types": ["server", "service"],
                },
                "parameters": [{"name": "ticket", "source": "ticket.number", "type": "string"}],
                "steps": [
                    {
                        "name": "Ask /healthz",
                        "type": "http",
                        "target": "demo-health",
                        "method": "GET",
                        "path": "/healthz",
                        "timeout": 10,
                        "check": {"status": [200, 503]},
                    },
                    {
                        "name": "Confirm the service answers for the requester",
                        "type": "manual",
                        "instructions": "Ask the requester whether the page loads now.",
                    },
                ],
                "needs_approval": True,
                "safe_for_auto": False,
            },
        )
        actions.do_publish_runbook(runbook, actor=None)
    if not Runbook.objects.filter(name=RESTART_RUNBOOK).exists():
        runbook = actions.do_create_runbook(
            actor=None,
            name=RESTART_RUNBOOK,
            description="Restarts a systemd service and checks it is active; rolls back by restoring the unit's state.",
            version={
                "match": {
                    "keywords": ["restart", "nginx", "apache", "service down"],
                    "item_types": ["server"],
                },
                "parameters": [
                    {
                        "name": "service",
                        "type": "choice",
                        "choices": ["nginx", "apache2", "php-fpm"],
                        "default": "nginx",
                    },
                    {"name": "host", "type": "hostname", "source": "ci.host"},
                ],
                "steps": [
                    {
                        "name": "Record the state",
                        "type": "ssh",
                        "command": "systemctl is-active {service}",
                        "check": {"exit_code": None},
                    },
                    {
                        "name": "Restart",
                        "type": "ssh",
                        "command": "sudo systemctl restart {service}",
                        "timeout": 120,
                        "rollback": {"command": "sudo systemctl start {service}"},
                    },
                    {
                        "name": "Check it is active",
                        "type": "ssh",
                        "command": "systemctl is-active {service}",
                        "check": {"contains": "active"},
                    },
                ],
                "allowed_environments": ["prod", "staging", "dev"],
                "needs_approval": True,
            },
        )
        actions.do_publish_runbook(runbook, actor=None)
