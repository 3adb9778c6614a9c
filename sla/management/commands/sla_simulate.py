"""Replay historical tickets under a candidate SLA policy set; report breaches per priority
next to the current policies. Changes nothing."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sla.simulate import PolicyFileError, load_policy_file, simulate


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"{option} {value!r} is not a date (YYYY-MM-DD).") from error


class Command(BaseCommand):
    help = "Replay tickets created since DATE under the policies of FILE (YAML or JSON); compare with the current ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--policy", required=True, help="Candidate policy set, YAML or JSON (see sla/simulate.py)."
        )
        parser.add_argument(
            "--since", required=True, help="Replay tickets created on or after this date (YYYY-MM-DD)."
        )
        parser.add_argument("--until", help="… and on or before this date (default: today).")
        parser.add_argument("--json", action="store_true", help="Print the comparison as JSON.")

    def handle(
        self, *args: object, policy: str, since: str, until: str | None, json: bool, **options: object
    ) -> None:
        start = _date(since, "--since")
        end = _date(until, "--until") if until else None
        if end and end < start:
            raise CommandError("--until is before --since.")
        try:
            candidate = load_policy_file(policy)
        except PolicyFileError as error:
            raise CommandError(f"Bad policy file: {error}") from error
        rows = simulate(candidate, since=start, until=end)
        if json:
            self.stdout.write(
                _dumps({"since": start, "until": end, "priorities": [asdict(row) for row in rows]})
            )
            return
        self.stdout.write(
            f"Replayed tickets created from {start}{f' to {end}' if end else ''} "
            f"({sum(row.tickets for row in rows)} tickets). Nothing was changed."
        )
        self.stdout.write(
            f"{'priority':<10}{'tickets':>8}  {'response breaches':<24}{'resolution breaches':<24}"
            f"{'no policy':<12}"
        )
        for row in rows:
            self.stdout.write(
                f"{row.priority:<10}{row.tickets:>8}  "
                f"{_compare(row.current.response_breaches, row.candidate.response_breaches):<24}"
                f"{_compare(row.current.resolution_breaches, row.candidate.resolution_breaches):<24}"
                f"{_compare(row.current.no_policy, row.candidate.no_policy):<12}"
            )


def _compare(current: int, candidate: int) -> str:
    return f"{current} → {candidate} ({candidate - current:+d})"


def _dumps(data: object) -> str:
    return json.dumps(data, indent=2, default=str)
