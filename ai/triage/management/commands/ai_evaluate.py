"""Evaluate the triage classifier on a public ticket dataset: tune on val, score test once."""

from __future__ import annotations

import json
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ai.triage.evaluation import DATASETS, DatasetError, evaluate_dataset


class Command(BaseCommand):
    help = (
        "Trains on the train split (blend and calibration chosen on val), refits on train + val and "
        "scores the test split once. Prints accuracy, macro-F1 (classes with >= 5 test rows), weighted-F1, "
        "top-3 accuracy and, at the calibrated auto threshold, precision and coverage."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="endava or ata")
        parser.add_argument("--data-dir", default=settings.AI_TRIAGE_DATA_DIR,
                            help="directory holding the CSV files and their .splits.csv manifests")
        parser.add_argument("--json", action="store_true", help="one JSON object per field and line")
        parser.add_argument("--field", action="append", dest="fields",
                            help="evaluate only this field (repeatable)")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        dataset = options["dataset"]
        if not options["data_dir"]:
            raise CommandError("--data-dir is required (or set AI_TRIAGE_DATA_DIR).")
        known = {spec.name for spec in DATASETS[dataset].fields}
        unknown = set(options["fields"] or []) - known
        if unknown:
            raise CommandError(f"Unknown field(s) for {dataset}: {', '.join(sorted(unknown))}; "
                               f"use {', '.join(sorted(known))}.")
        started = time.perf_counter()

        def progress(message: str) -> None:
            # Progress goes to stderr so that --json output stays one object per line.
            print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

        try:
            reports = evaluate_dataset(dataset, options["data_dir"], progress=progress, fields=options["fields"])
        except DatasetError as error:
            raise CommandError(str(error)) from error
        for report in reports:
            if options["json"]:
                self.stdout.write(json.dumps(report.as_json()))
                continue
            top3 = f"{report.top3_accuracy:.3f}" if report.top3_accuracy is not None else "n/a"
            precision = (f"{report.precision_at_threshold:.3f}" if report.precision_at_threshold is not None
                         else "n/a")
            self.stdout.write(
                f"{dataset} {report.field}: test accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}, "
                f"weighted-F1 {report.weighted_f1:.3f}, top-3 {top3}; threshold {report.threshold:.3f} -> "
                f"precision {precision}, coverage {report.coverage_at_threshold:.3f}; ECE {report.ece:.3f}; "
                f"{report.train_rows} train+val rows, {report.test_rows} test rows; {report.seconds:.0f}s\n"
                f"    blend (chosen on val): {report.blend}\n"
                f"    val: " + " ".join(f"{key}={value:.3f}" for key, value in report.val.items())
            )
