"""Train the triage models on the organisation's resolved tickets and activate the new version."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ai.triage.actions import do_train_models
from ai.triage.signals import training_run


class Command(BaseCommand):
    help = (
        "Trains category, impact, urgency and team classifiers on the resolved tickets, calibrates their "
        "confidence on out-of-fold predictions and stores the result as a new active model version. "
        "Fields with too few resolved tickets keep the keyword rules."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-new-data",
            action="store_true",
            help="do nothing unless tickets were resolved since the active model (as the nightly task)",
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="newest resolved tickets to read (default setting)"
        )
        parser.add_argument("--json", action="store_true", help="print the outcome as JSON")

    def handle(self, *args, **options):
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be a positive number.")
        model, outcome = do_train_models(force=not options["if_new_data"], limit=options["limit"])
        # What else learns from the resolved tickets (the quick fix's confidence) refits too.
        refits = [
            str(answer)
            for _receiver, answer in training_run.send(
                sender=self.__class__, force=not options["if_new_data"], limit=options["limit"]
            )
            if answer
        ]
        summary = {
            "version": model.version if model else None,
            "training_rows": outcome.rows if outcome else {},
            "metrics": outcome.metrics if outcome else {},
            "skipped": outcome.skipped if outcome else {},
            "notes": outcome.notes if outcome else [],
            "seconds": round(outcome.seconds, 2) if outcome else 0,
            "refits": refits,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary, default=str))
            return
        for line in refits:
            self.stdout.write(line)
        if outcome is None:
            self.stdout.write("No ticket resolved since the active model: nothing to do.")
            return
        for name, figures in outcome.metrics.items():
            self.stdout.write(
                f"{name}: {figures['rows']} tickets, {figures['classes']} classes, held-out accuracy "
                f"{figures['held_out_accuracy']:.3f}, macro-F1 {figures['held_out_macro_f1']:.3f}, "
                f"ECE {figures['ece']:.3f}, proposed threshold {figures['proposed_threshold']:.3f}"
            )
        for name, why in outcome.skipped.items():
            self.stdout.write(f"{name}: keyword rules ({why})")
        for note in outcome.notes:
            self.stdout.write(note)
        if model is None:
            self.stdout.write("No field had enough history: the keyword rules stay in use.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Activated {model.label} ({model.size_bytes} bytes, {outcome.seconds:.1f}s)."
                )
            )
