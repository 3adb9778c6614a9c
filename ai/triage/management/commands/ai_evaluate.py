"""Evaluate the triage classifier on a public ticket dataset: tune by cross-validation, score test once."""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ai.providers import ProviderUnavailable
from ai.providers.embeddings import embed_texts, get_embedder
from ai.triage.evaluation import DATASETS, DatasetError, cached_embeddings, evaluate_dataset


class Command(BaseCommand):
    help = (
        "Chooses the blend, calibration and auto threshold by 5-fold cross-validation on train + val, "
        "refits on train + val and scores the test split once. Prints accuracy, macro-F1 (classes with "
        ">= 5 test rows), weighted-F1, top-3 accuracy and, at the calibrated auto threshold, precision "
        "and coverage."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="endava or ata")
        parser.add_argument(
            "--data-dir",
            default=settings.AI_TRIAGE_DATA_DIR,
            help="directory holding the CSV files and their .splits.csv manifests",
        )
        parser.add_argument("--json", action="store_true", help="one JSON object per field and line")
        parser.add_argument(
            "--field", action="append", dest="fields", help="evaluate only this field (repeatable)"
        )
        parser.add_argument(
            "--no-embeddings",
            action="store_true",
            help="TF-IDF members only (no sentence embeddings of the texts)",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=min(2, os.cpu_count() or 1),
            help="processes fitting the cross-validation folds (default: up to 2)",
        )

    def handle(self, *args, **options):
        dataset = options["dataset"]
        if not options["data_dir"]:
            raise CommandError("--data-dir is required (or set AI_TRIAGE_DATA_DIR).")
        known = {spec.name for spec in DATASETS[dataset].fields}
        unknown = set(options["fields"] or []) - known
        if unknown:
            raise CommandError(
                f"Unknown field(s) for {dataset}: {', '.join(sorted(unknown))}; "
                f"use {', '.join(sorted(known))}."
            )
        started = time.perf_counter()

        def progress(message: str) -> None:
            # Progress goes to stderr so that --json output stays one object per line.
            print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

        if options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1.")
        embed = None
        if not options["no_embeddings"]:
            try:
                described = get_embedder().describe()
            except ProviderUnavailable as error:
                raise CommandError(f"{error} (or pass --no-embeddings)") from error
            model = f"{described.get('provider')}:{described.get('model')}"
            embed = cached_embeddings(
                lambda texts: np.asarray(embed_texts(texts), dtype=np.float32),
                settings.AI_EVALUATION_CACHE_DIR,
                model,
                progress=progress,
            )
        try:
            reports = evaluate_dataset(
                dataset,
                options["data_dir"],
                progress=progress,
                fields=options["fields"],
                embed=embed,
                jobs=options["jobs"],
            )
        except DatasetError as error:
            raise CommandError(str(error)) from error
        except ProviderUnavailable as error:
            raise CommandError(
                f"The embeddings provider failed: {error} (or pass --no-embeddings)"
            ) from error
        for report in reports:
            if options["json"]:
                self.stdout.write(json.dumps(report.as_json()))
                continue
            top3 = f"{report.top3_accuracy:.3f}" if report.top3_accuracy is not None else "n/a"
            precision = (
                f"{report.precision_at_threshold:.3f}" if report.precision_at_threshold is not None else "n/a"
            )
            self.stdout.write(
                f"{dataset} {report.field}: test accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}, "
                f"weighted-F1 {report.weighted_f1:.3f}, top-3 {top3}; threshold {report.threshold:.3f} -> "
                f"precision {precision}, coverage {report.coverage_at_threshold:.3f}; ECE {report.ece:.3f}; "
                f"{report.train_rows} train+val rows, {report.test_rows} test rows; {report.seconds:.0f}s\n"
                f"    blend (chosen by cross-validation{', with embeddings' if report.embeddings else ''}): "
                f"{report.blend}\n"
                f"    cross-validated on train+val: "
                + " ".join(f"{key}={value:.3f}" for key, value in report.val.items())
            )
