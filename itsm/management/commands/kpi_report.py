"""Each KPI over two periods side by side: what a change (auto-triage, a new SLA policy) did."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from itsm import kpis
from itsm.analytics import report


class Command(BaseCommand):
    help = (
        "Compare the KPIs of two periods: --before 2026-01-01:2026-03-31 --after 2026-04-01:2026-06-30 "
        "[--group-by team] [--kpi mttr_hours --kpi tickets_resolved] [--format table|csv|json]."
    )

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="YYYY-MM-DD:YYYY-MM-DD (both days included)")
        parser.add_argument("--after", required=True, help="YYYY-MM-DD:YYYY-MM-DD (both days included)")
        parser.add_argument("--group-by", default="", help=f"one of {', '.join(kpis.GROUPINGS)}")
        parser.add_argument("--kpi", action="append", default=[], help="a KPI name (repeatable); default all")
        parser.add_argument("--format", default="table", choices=["table", "csv", "json"])

    def handle(self, *args, **options):
        try:
            before = report.parse_period(options["before"], "--before")
            after = report.parse_period(options["after"], "--after")
            group_by = kpis.check_grouping(options["group_by"] or None)
            lines = report.compare(options["kpi"] or None, before, after, group_by=group_by)
        except kpis.KPIInputError as error:
            raise CommandError(str(error)) from error
        if options["format"] == "csv":
            self.stdout.write(report.as_csv(lines), ending="")
        elif options["format"] == "json":
            self.stdout.write(report.as_json(lines, before, after, group_by))
        else:
            self.stdout.write(f"before {before[0]} … {before[1]}  ·  after {after[0]} … {after[1]}\n")
            self.stdout.write(report.as_table(lines), ending="")
