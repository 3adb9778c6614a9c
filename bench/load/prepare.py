"""Sign in the people of the load scenario (bench/load/locustfile.py): sessions for 40 agents and
200 requesters and an API token for n8n, written into the loaded database, and the ids of open
tickets, all saved to var/load-people.json.

    .venv/bin/python bench/load/prepare.py [--database itsm_bench]
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="itsm_bench")
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "load-people.json")
    args = parser.parse_args()

    import tickets_list

    tickets_list.configure(args.database)
    from django.contrib.sessions.backends.db import SessionStore

    from itsm.models import ApiToken, Role, User
    from tickets.models import Ticket

    def session_for(user: User) -> str:
        store = SessionStore()
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        store["_auth_user_hash"] = user.get_session_auth_hash()
        store.create()
        return store.session_key

    agents = User.objects.filter(role=Role.AGENT, email__endswith="@bench.example").order_by("pk")[:40]
    requesters = User.objects.filter(role=Role.USER, email__endswith="@bench.example").order_by("pk")[:200]
    integration, _ = User.objects.get_or_create(
        email="n8n@bench.example", defaults={"role": Role.AGENT, "full_name": "n8n"}
    )
    people = {
        "agents": [session_for(user) for user in agents],
        "requesters": [session_for(user) for user in requesters],
        # Not sensitive: every agent may open them.
        "tickets": list(
            Ticket.objects.filter(status__in=["new", "open", "in_progress"], sensitive=False)
            .order_by("-pk")
            .values_list("pk", flat=True)[:2000]
        ),
        # One per agent-user at most at a time, for the status changes (in progress and back).
        "working": list(
            Ticket.objects.filter(status="in_progress", sensitive=False)
            .order_by("-pk")
            .values_list("pk", flat=True)[:500]
        ),
        "token": [ApiToken.issue(integration, name=f"load-{uuid.uuid4().hex[:6]}")[1]],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(people))
    args.output.chmod(0o600)
    print(
        f"{len(people['agents'])} agents, {len(people['requesters'])} requesters, "
        f"{len(people['tickets'])} tickets -> {args.output}"
    )


if __name__ == "__main__":
    main()
