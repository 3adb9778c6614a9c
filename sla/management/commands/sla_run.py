"""Run the SLA sweep once (what the worker does every minute); --dry-run reports and changes nothing."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from sla.sweep import run_sweep


class Command(BaseCommand):
    help = "Run the SLA sweep now: at-risk warnings, breaches, escalations, advisory risk. --dry-run changes nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would happen; change nothing."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--no-risk", action="store_true", help="Skip the advisory risk evaluations.")

    def handle(self, *args: object, dry_run: bool, json: bool, no_risk: bool, **options: object) -> None:
        report = run_sweep(dry_run=dry_run, risk=not no_risk)
        if json:
            self.stdout.write(_dumps(report.as_dict()))
            return
        verb = "would" if dry_run else "did"
        self.stdout.write(
            f"SLA sweep ({'dry run' if dry_run else 'run'}, {report.duration_ms} ms, trace {report.trace_id}): "
            f"{report.warnings} at risk, {report.breaches} breached, {report.escalations} escalation step(s), "
            f"{report.risk_evaluations} risk evaluation(s)."
        )
        for action in report.actions:
            step = f" — {action.step}" if action.step else ""
            level = f" level {action.level}" if action.level else ""
            self.stdout.write(
                f"  {verb} {action.action}{level}: {action.ticket_number} {action.metric}"
                f" (due {action.due_at}){step}"
            )
        if report.actions_truncated:
            self.stdout.write("  … more actions not listed (see the counts above).")


def _dumps(data: object) -> str:
    return json.dumps(data, indent=2, default=str)
