"""Evaluation of the triage classifier on the public ticket datasets (``ai_evaluate``).

Protocol (the data's README): fixed train/val/test splits. For each field the candidate
members are fitted on **train**, the blend (member weights, softmax temperature) is chosen
on **val**, the confidence calibrator and the auto threshold are fitted on **val**; then the
chosen members are refitted on **train + val** and **test** is scored once. No fit of any
kind (vectorisers, models, calibrator, threshold) ever sees a test row: every ``fit`` is
handed the row ids it learns from, and a test pins that none is a test id.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ai.triage.classifier import (
    ClassifierConfig,
    Member,
    TextClassifier,
    TopLabelCalibrator,
    blend,
    choose_threshold,
    expected_calibration_error,
    tune_blend,
)
from ai.triage.text import ticket_text, title_text

DATASET_FILES = {
    "endava": ("endava_all_tickets_subset.csv", "endava_all_tickets_subset.splits.csv"),
    "ata": ("ata_input_data.csv", "ata_input_data.splits.csv"),
}
SPLITS = ("train", "val", "test")
TARGET_PRECISION = 0.95
MIN_MACRO_ROWS = 5


class DatasetError(Exception):
    """The data directory or a file in it is not what the evaluation expects."""


@dataclass
class Row:
    row_id: str
    split: str
    text: str
    title: str
    values: dict[str, str]


@dataclass
class FieldSpec:
    name: str
    column: str
    keep: Callable[[Row], bool] = lambda row: True
    top3: bool = False


@dataclass
class DatasetSpec:
    name: str
    title_column: str
    body_column: str
    label_columns: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    type_column: str = ""


def _is_incident(row: Row) -> bool:
    return row.values.get("ticket_type") == "0"


DATASETS = {
    "endava": DatasetSpec(
        name="endava", title_column="title", body_column="body", type_column="ticket_type",
        label_columns=("category", "urgency", "impact", "ticket_type"),
        fields=(
            FieldSpec("category", "category", top3=True),
            # Requests always carry urgency 3 / impact 4: priority is measured on incidents only.
            FieldSpec("urgency", "urgency", keep=_is_incident),
            FieldSpec("impact", "impact", keep=_is_incident),
        ),
    ),
    # The Caller column is never read: it leaks who routes what, not what the ticket says.
    "ata": DatasetSpec(
        name="ata", title_column="Short description", body_column="Description",
        label_columns=("Assignment group",),
        fields=(FieldSpec("assignment_group", "Assignment group", top3=True),),
    ),
}


def load_rows(dataset: str, data_dir: str | Path) -> list[Row]:
    """Rows with their text and split; a missing file or column raises ``DatasetError``."""
    if dataset not in DATASETS:
        raise DatasetError(f"Unknown dataset {dataset!r}: use one of {', '.join(DATASETS)}.")
    spec = DATASETS[dataset]
    directory = Path(data_dir)
    if not directory.is_dir():
        raise DatasetError(f"{directory} is not a directory.")
    data_name, splits_name = DATASET_FILES[dataset]
    data_path, splits_path = directory / data_name, directory / splits_name
    for path in (data_path, splits_path):
        if not path.is_file():
            raise DatasetError(f"{path} is missing (see the data README for the expected files).")
    splits = _read_splits(splits_path)
    needed = {"row_id", spec.title_column, spec.body_column, *spec.label_columns}
    rows: list[Row] = []
    with data_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = needed - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{data_path.name} lacks the column(s) {', '.join(sorted(missing))}.")
        for record in reader:
            row_id = record["row_id"]
            if row_id not in splits:
                raise DatasetError(f"{row_id} of {data_path.name} has no split in {splits_path.name}.")
            kind = record.get(spec.type_column, "") if spec.type_column else ""
            ticket_type = {"0": "incident", "1": "service_request"}.get(kind, "")
            rows.append(Row(
                row_id=row_id,
                split=splits[row_id],
                text=ticket_text(record[spec.title_column], record[spec.body_column], ticket_type=ticket_type),
                title=title_text(record[spec.title_column]),
                values={column: (record.get(column) or "").strip() for column in spec.label_columns},
            ))
    if not rows:
        raise DatasetError(f"{data_path.name} has no rows.")
    return rows


def _read_splits(path: Path) -> dict[str, str]:
    splits: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"row_id", "split"} <= set(reader.fieldnames or []):
            raise DatasetError(f"{path.name} needs the columns row_id and split.")
        for record in reader:
            if record["split"] not in SPLITS:
                raise DatasetError(f"{path.name}: unknown split {record['split']!r} for {record['row_id']}.")
            splits[record["row_id"]] = record["split"]
    return splits


# --- metrics ----------------------------------------------------------------------------------
# Plain numpy (the blend tuner scores hundreds of blends); a test pins them to scikit-learn's.
def _f1_per_class(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> np.ndarray:
    result = np.zeros(len(labels))
    for i, label in enumerate(labels):
        true_positive = np.sum((predicted == label) & (truth == label))
        predicted_count = np.sum(predicted == label)
        actual_count = np.sum(truth == label)
        denominator = predicted_count + actual_count
        result[i] = 2 * true_positive / denominator if denominator else 0.0
    return result


def macro_f1(truth: np.ndarray, predicted: np.ndarray, min_rows: int = MIN_MACRO_ROWS) -> float:
    """Macro-F1 over the classes with at least ``min_rows`` rows in ``truth``."""
    counts = Counter(truth.tolist())
    labels = sorted(label for label, count in counts.items() if count >= min_rows)
    if not labels:
        return 0.0
    return float(_f1_per_class(truth, predicted, labels).mean())


def weighted_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    counts = Counter(truth.tolist())
    labels = sorted(counts)
    support = np.array([counts[label] for label in labels], dtype=float)
    return float((_f1_per_class(truth, predicted, labels) * support).sum() / support.sum()) if len(truth) else 0.0


def top_k_accuracy(probabilities: np.ndarray, truth: np.ndarray, classes: np.ndarray, k: int = 3) -> float:
    k = min(k, probabilities.shape[1])
    top = np.argpartition(-probabilities, k - 1, axis=1)[:, :k]
    index = {label: i for i, label in enumerate(classes)}
    targets = np.array([index.get(label, -1) for label in truth])
    return float(np.mean((top == targets[:, None]).any(axis=1)))


def scores(probabilities: np.ndarray, truth: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    predicted = classes[probabilities.argmax(axis=1)]
    return {
        "accuracy": float(np.mean(predicted == truth)),
        "macro_f1": macro_f1(truth, predicted),
        "weighted_f1": weighted_f1(truth, predicted),
        "top3_accuracy": top_k_accuracy(probabilities, truth, classes),
    }


def candidate_config() -> ClassifierConfig:
    """The members the blend chooses from on val (weights are picked by ``tune_blend``)."""
    return ClassifierConfig(members=[
        Member("svm", class_weight_power=0.0, c=0.5),
        Member("svm", class_weight_power=0.5, c=0.5),
        Member("svm", class_weight_power=1.0, c=0.5),
        Member("knn", k=10, space="char"),
        Member("memory"),
    ])


@dataclass
class FieldReport:
    field: str
    accuracy: float
    macro_f1: float
    weighted_f1: float
    top3_accuracy: float | None
    threshold: float
    precision_at_threshold: float | None
    coverage_at_threshold: float
    train_rows: int
    test_rows: int
    ece: float = 0.0
    val: dict[str, float] = field(default_factory=dict)
    blend: str = ""
    seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        keys = ("field", "accuracy", "macro_f1", "weighted_f1", "top3_accuracy", "threshold",
                "precision_at_threshold", "coverage_at_threshold", "train_rows", "test_rows")
        return {key: _round(getattr(self, key)) for key in keys}


def _round(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


FitLog = Callable[[str, list[str]], None]


def evaluate_field(rows: list[Row], spec: FieldSpec, *, config: ClassifierConfig | None = None,
                   target_precision: float = TARGET_PRECISION, on_fit: FitLog | None = None,
                   progress: Callable[[str], None] | None = None) -> FieldReport:
    """Tune on val, refit on train + val, score test once. ``on_fit(stage, row_ids)`` sees every fit."""
    started = time.perf_counter()
    say = progress or (lambda message: None)
    kept = [row for row in rows if spec.keep(row) and row.values.get(spec.column, "") != ""]
    part = {split: [row for row in kept if row.split == split] for split in SPLITS}
    for split in SPLITS:
        if not part[split]:
            raise DatasetError(f"{spec.name}: the {split} split is empty.")

    def fit(stage: str, fit_rows: list[Row], fit_config: ClassifierConfig) -> TextClassifier:
        ids = [row.row_id for row in fit_rows]
        if on_fit is not None:
            on_fit(stage, ids)
        return TextClassifier(fit_config).fit(
            [row.text for row in fit_rows], [row.title for row in fit_rows],
            [row.values[spec.column] for row in fit_rows], keys=ids,
        )

    def inputs(subset: Iterable[Row]) -> tuple[list[str], list[str], np.ndarray]:
        subset = list(subset)
        return ([row.text for row in subset], [row.title for row in subset],
                np.array([row.values[spec.column] for row in subset]))

    # 1. Candidates on train; blend, calibrator and threshold chosen on val.
    say(f"{spec.name}: fitting candidates on {len(part['train'])} train rows")
    candidates = fit("tune", part["train"], config or candidate_config())
    val_texts, val_titles, val_truth = inputs(part["val"])

    def objective(probabilities: np.ndarray, _targets: np.ndarray, classes: np.ndarray) -> tuple[float, dict]:
        figures = scores(probabilities, val_truth, classes)
        score = figures["accuracy"] + figures["macro_f1"] + (figures["top3_accuracy"] if spec.top3 else 0.0)
        return score, figures

    choice = tune_blend(candidates, val_texts, val_titles, val_truth, objective)
    chosen = ClassifierConfig(members=[m for m in choice.members if m.weight > 0], temperature=choice.temperature)
    val_probabilities = tune_blend_probabilities(candidates, chosen, val_texts, val_titles)
    val_top = val_probabilities.max(axis=1)
    val_correct = candidates.classes_[val_probabilities.argmax(axis=1)] == val_truth
    calibrator = TopLabelCalibrator().fit(val_top, val_correct)
    threshold = choose_threshold(calibrator.transform(val_top), val_correct, target_precision)
    say(f"{spec.name}: val {format_figures(choice.report)}; blend {describe(chosen)}; threshold {threshold:.3f}")

    # 2. Refit the chosen members on train + val; score test once.
    fit_rows = part["train"] + part["val"]
    final = fit("final", fit_rows, chosen)
    test_texts, test_titles, test_truth = inputs(part["test"])
    probabilities = final.predict_proba(test_texts, test_titles)
    figures = scores(probabilities, test_truth, final.classes_)
    confidence = calibrator.transform(probabilities.max(axis=1))
    correct = final.classes_[probabilities.argmax(axis=1)] == test_truth
    covered = confidence >= threshold
    return FieldReport(
        field=spec.name,
        accuracy=figures["accuracy"],
        macro_f1=figures["macro_f1"],
        weighted_f1=figures["weighted_f1"],
        top3_accuracy=figures["top3_accuracy"] if len(final.classes_) > 3 else None,
        threshold=round(threshold, 4),
        precision_at_threshold=float(correct[covered].mean()) if covered.any() else None,
        coverage_at_threshold=float(covered.mean()),
        train_rows=len(fit_rows),
        test_rows=len(part["test"]),
        ece=expected_calibration_error(confidence, correct),
        val=choice.report,
        blend=describe(chosen),
        seconds=time.perf_counter() - started,
    )


def tune_blend_probabilities(classifier: TextClassifier, chosen: ClassifierConfig, texts: list[str],
                             titles: list[str]) -> np.ndarray:
    """The chosen blend's probabilities from the candidates fitted on train (no refit)."""
    members = classifier.member_probabilities(texts, titles, temperature=chosen.temperature)
    return blend(members, chosen.members)


def describe(config: ClassifierConfig) -> str:
    parts = [f"{member.weight:g}×{member.name}" for member in config.members]
    return " + ".join(parts) + f" (T={config.temperature:g})"


def format_figures(figures: dict[str, float]) -> str:
    return " ".join(f"{key}={value:.3f}" for key, value in figures.items())


def evaluate_dataset(dataset: str, data_dir: str | Path, *, on_fit: FitLog | None = None,
                     progress: Callable[[str], None] | None = None,
                     fields: Iterable[str] | None = None) -> list[FieldReport]:
    rows = load_rows(dataset, data_dir)
    wanted = set(fields) if fields else None
    return [
        evaluate_field(rows, spec, on_fit=on_fit, progress=progress)
        for spec in DATASETS[dataset].fields
        if wanted is None or spec.name in wanted
    ]
