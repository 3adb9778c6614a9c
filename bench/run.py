"""Run every benchmark one after another and print their figures (``make bench``).

Default sizes are small enough for a laptop (minutes); ``--full`` uses the target
sizes of bench/README.md (1,000,000 tickets, 100,000 SLA clocks, 1,000,000 chunks), which take an hour
or more on two cores. Each benchmark uses its own database on the same server.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK = [
    ["tickets_list.py", "--rows", "20000", "--repeat", "10"],
    ["queue_page.py", "--reuse", "--repeat", "10"],
    ["tickets_export.py"],
    ["sla_sweep.py", "--tickets", "10000"],
    ["jira_webhook.py", "--deliveries", "200", "--clients", "4"],
    ["webhooks_email_chat.py"],
    ["ai_embeddings.py", "--texts", "128"],
    ["ai_search.py", "--chunks", "20000"],
    ["ai_classify.py", "--no-embeddings", "--tickets", "200"],
    ["cmdb_extract.py", "--items", "10000", "--repeat", "100"],
    ["jira_kb.py", "--issues", "200"],
    ["kpis.py", "--tickets", "20000", "--repeat", "5", "--skip-year"],
    ["runbooks.py", "--runbooks", "200", "--steps", "30"],
    ["copilot_answer.py", "--rounds", "3"],
    ["problems_clusters.py"],
    ["audit_growth.py", "--tickets", "20000", "--steps", "300000", "--repeat", "5"],
]
FULL = [
    ["tickets_list.py", "--rows", "1000000"],
    ["queue_page.py", "--reuse"],
    ["tickets_export.py"],
    ["sla_sweep.py", "--tickets", "100000"],
    ["jira_webhook.py", "--deliveries", "2000", "--clients", "8"],
    ["webhooks_email_chat.py"],
    ["ai_embeddings.py"],
    ["ai_search.py", "--chunks", "1000000"],
    ["ai_classify.py"],
    ["cmdb_extract.py", "--items", "100000"],
    ["jira_kb.py", "--issues", "1000"],
    ["kpis.py"],
    ["runbooks.py", "--runbooks", "2000", "--steps", "50"],
    ["copilot_answer.py", "--rounds", "3", "--history-copies", "511"],
    ["problems_clusters.py"],
    ["audit_growth.py"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the sizes the issues ask for")
    parser.add_argument(
        "--only", default="", help="comma-separated benchmark names, e.g. sla_sweep,ai_search"
    )
    options = parser.parse_args()
    only = {name.strip().removesuffix(".py") for name in options.only.split(",") if name.strip()}
    failures = 0
    for command in FULL if options.full else QUICK:
        name = command[0].removesuffix(".py")
        if only and name not in only:
            continue
        print(f"\n=== {name}: {' '.join(command[1:]) or '(defaults)'}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=False)
        failures += result.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
