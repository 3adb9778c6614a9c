"""Score the copilot on its evaluation set over the demo data (run ``seed_demo`` first)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ai.copilot import evaluation


class Command(BaseCommand):
    help = "Score the copilot's planner on the evaluation set (intent accuracy, answer-fact recall)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--planner", choices=["local", "llm"], default="local")
        parser.add_argument("--verbose-failures", action="store_true", help="Print each failed case.")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if not evaluation.demo_numbers():
            raise CommandError("No demo tickets: run `python manage.py seed_demo` first.")
        try:
            score = evaluation.evaluate(planner=options["planner"], record=True)
        except LookupError as error:
            raise CommandError(str(error)) from error
        latencies = sorted(result.latency_ms for result in score.results)
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        self.stdout.write(
            f"{len(score.in_scope)} in-scope and {len(score.out_of_scope)} out-of-scope questions "
            f"({options['planner']} planner)\n"
            f"intent accuracy      {score.intent_accuracy:.1%}\n"
            f"answer-fact recall   {score.fact_recall:.1%}\n"
            f"in-scope correct     {score.in_scope_correct:.1%}\n"
            f"out-of-scope declined {score.declined_out_of_scope:.1%}\n"
            f"latency p95          {p95} ms"
        )
        for result in score.failures():
            self.stdout.write(
                f"FAILED {result.question!r}: {result.intent} {result.tools}, missing {result.missing}"
            )
            if options["verbose_failures"]:
                self.stdout.write(f"    {result.answer}")
