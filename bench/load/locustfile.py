"""Load scenario (Locust): agents, requesters and integrations in realistic proportions.

    .venv-load/bin/locust -f bench/load/locustfile.py --host http://127.0.0.1:8000 \\
        --users 50 --spawn-rate 10 --run-time 3m --headless --csv var/load-50

Against a production-like start on a loaded database (see bench/load/README.md): gunicorn with
the configured workers, DEBUG off, ``JIRA_WEBHOOK_SECRET=bench-webhook-secret``, and the
tickets of ``bench/tickets_list.py`` or ``bench/queue_page.py`` (database ``itsm_bench``).
``bench/load/prepare.py`` signs its people in beforehand by writing sessions and an API token
straight into that database (no login page or lockout gets in the way of the measurement) and
leaves them in ``var/load-people.json`` for this file. Only 127.0.0.1 is accepted as the target.

Proportions, per 20 simulated people: 12 agents (queue with filters, ticket page, reply,
status change), 6 requesters (portal, new request), 1 Jira (webhook deliveries, some of them
redeliveries), 1 n8n (API polling for changed tickets).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import re
from pathlib import Path
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task

ROOT = Path(__file__).resolve().parents[2]
SECRET = os.environ.get("LOAD_JIRA_SECRET", "bench-webhook-secret")
VERSION = re.compile(r'name="version" value="(\d+)"')
PEOPLE: dict[str, list] = {"agents": [], "requesters": [], "tickets": [], "working": [], "token": []}


@events.test_start.add_listener
def prepare(environment, **_kwargs) -> None:
    host = urlsplit(environment.host or "").hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"load tests target this machine only, not {host!r}")
    people = Path(os.environ.get("LOAD_PEOPLE", ROOT / "var" / "load-people.json"))
    if not people.exists():
        raise SystemExit(f"{people} is missing: run bench/load/prepare.py first")
    PEOPLE.update(json.loads(people.read_text()))


class SignedIn(HttpUser):
    abstract = True
    kind = "agents"

    first_page = "/tickets/"

    def on_start(self) -> None:
        self.client.cookies.set("sessionid", random.choice(PEOPLE[self.kind]))
        self.client.get(self.first_page, name="first page")  # a page with a form sets the CSRF cookie

    def post_form(self, path: str, data: dict, name: str):  # type: ignore[no-untyped-def]
        token = self.client.cookies.get("csrftoken", "")
        return self.client.post(
            path,
            data={**data, "csrfmiddlewaretoken": token},
            headers={"X-CSRFToken": token, "Referer": f"{self.host}{path}"},
            name=name,
            allow_redirects=False,
        )


class Agent(SignedIn):
    weight = 12
    wait_time = between(1, 4)
    kind = "agents"

    @task(6)
    def queue(self) -> None:
        filters = random.choice(
            [
                {},
                {"status": "open"},
                {"status": "open", "priority": "high"},
                {"view": "my-open"},
                {"view": "unassigned"},
                {"search": random.choice(["printer", "vpn slow", "mailbox"])},
                {"sort": "-updated", "page": str(random.randint(1, 5))},
            ]
        )
        self.client.get("/tickets/", params=filters, name="queue")

    @task(4)
    def ticket(self) -> None:
        self.client.get(f"/tickets/{random.choice(PEOPLE['tickets'])}/", name="ticket page")

    @task(1)
    def reply(self) -> None:
        pk = random.choice(PEOPLE["tickets"])
        self.post_form(f"/tickets/{pk}/comments/", {"body": "Looking into it.", "internal": "on"}, "reply")

    @task(1)
    def status(self) -> None:
        # Open the ticket, then waiting on the customer and back: two legal moves that leave it
        # as it was, each sent with the version the page showed (the optimistic lock).
        pk = random.choice(PEOPLE["working"])
        found = VERSION.search(self.client.get(f"/tickets/{pk}/", name="ticket page").text)
        if found is None:
            return
        version = int(found.group(1))
        for step, status in enumerate(("pending_customer", "in_progress")):
            self.post_form(
                f"/tickets/{pk}/status/", {"status": status, "version": version + step}, "status change"
            )


class Requester(SignedIn):
    weight = 6
    wait_time = between(3, 10)
    kind = "requesters"
    first_page = "/tickets/portal/"

    @task(4)
    def portal(self) -> None:
        self.client.get("/tickets/portal/", name="portal")

    @task(1)
    def new_request(self) -> None:
        self.post_form(
            "/tickets/portal/report/",
            {"title": "Printer jammed again", "description": "Paper stuck on floor 3.", "urgency": "medium"},
            "new request",
        )


class Jira(HttpUser):
    weight = 1
    wait_time = between(0.2, 1)

    @task
    def delivery(self) -> None:
        key = random.randint(1000, 1199)
        body = json.dumps(
            {
                "webhookEvent": "jira:issue_updated",
                "timestamp": 1741946400000,
                "issue": {
                    "id": str(50000 + key),
                    "key": f"ITSUP-{key}",
                    "fields": {
                        "summary": f"Load issue {key}",
                        "description": "From the load test.",
                        "updated": "2025-03-14T10:00:00.000+0000",
                        "status": {"name": "In Progress"},
                        "priority": {"name": "Medium"},
                        "issuetype": {"name": "Incident"},
                        "project": {"key": "ITSUP"},
                    },
                },
            }
        ).encode()
        identifier = f"load-{key}-{random.randint(0, 3)}"  # a share are redeliveries
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        self.client.post(
            "/api/integrations/jira/webhook/",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature": signature,
                "X-Atlassian-Webhook-Identifier": identifier,
            },
            name="jira webhook",
        )


class N8n(HttpUser):
    weight = 1
    wait_time = between(2, 5)

    @task
    def poll(self) -> None:
        self.client.get(
            "/api/tickets/",
            params={"sort": "-updated", "page_size": "50"},
            headers={"Authorization": f"Token {PEOPLE['token'][0]}"},
            name="n8n poll",
        )
