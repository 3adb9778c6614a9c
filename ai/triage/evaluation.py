"""Evaluation of the triage classifier on the public ticket datasets (``ai_evaluate``).

Protocol (the data's README): fixed train/val/test splits. For each field the candidate
members are fitted in 5 folds over **train + val** (rows with the same text in one fold);
the blend (member weights, softmax temperature), the confidence calibrator and the auto
threshold are chosen on those out-of-fold predictions, as ``ai_train`` does on the
organisation's tickets. Then the chosen members are refitted on **train + val** and **test**
is scored once. Cross-validation rather than val alone: val holds 812 (ATA) or 556 (Endava)
rows, too few to choose seven weights and a threshold without fitting its noise, and a
class such as Endava's 11 has a single val row. No fit of any kind (vectorisers, models,
calibrator, threshold) ever sees a test row: every fit is handed the row ids it learns
from, and a test pins that none is a test id.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import GroupKFold

from ai.triage.classifier import (
    CONSERVATIVE_Z,
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
    # The published split's duplicate key: rows sharing it are on one side of every split.
    group: str = ""


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
        name="endava",
        title_column="title",
        body_column="body",
        type_column="ticket_type",
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
        name="ata",
        title_column="Short description",
        body_column="Description",
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
            rows.append(
                Row(
                    row_id=row_id,
                    split=splits[row_id],
                    text=ticket_text(
                        record[spec.title_column], record[spec.body_column], ticket_type=ticket_type
                    ),
                    title=title_text(record[spec.title_column]),
                    values={column: (record.get(column) or "").strip() for column in spec.label_columns},
                    group=split_key(record[spec.title_column], record[spec.body_column]),
                )
            )
    if not rows:
        raise DatasetError(f"{data_path.name} has no rows.")
    return rows


def split_key(title: str, body: str) -> str:
    """The data README's ``text_key``: lower-cased, whitespace-collapsed title and body, hashed."""

    def norm(text: str) -> str:
        return " ".join((text or "").lower().split())

    return hashlib.sha1(f"{norm(title)}\x1f{norm(body)}".encode()).hexdigest()[:16]  # noqa: S324 - a key


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
    return (
        float((_f1_per_class(truth, predicted, labels) * support).sum() / support.sum())
        if len(truth)
        else 0.0
    )


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


def candidate_config(embeddings: bool = False) -> ClassifierConfig:
    """The members the blend chooses from (weights and temperature are picked by ``tune_blend``).

    With ``embeddings`` the SVMs also see the text's sentence embedding and a k-NN member
    votes in embedding space (measured on the cross-validation folds: +1.1 points of
    accuracy on ATA, +0.3 on Endava).
    """
    members = [
        Member("svm", class_weight_power=0.0, c=0.5),
        Member("svm", class_weight_power=0.5, c=0.5),
        Member("svm", class_weight_power=1.0, c=0.25),
        Member("knn", k=10, space="char"),
        Member("nb", alpha=0.1),
        Member("memory"),
    ]
    if embeddings:
        members.insert(4, Member("knn", k=10, space="embedding", similarity_power=6.0))
    return ClassifierConfig(members=members, embedding_weight=1.0 if embeddings else 0.0)


TEMPERATURES = (5.0, 10.0, 20.0)
FOLDS = 5


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
    embeddings: bool = False

    def as_json(self) -> dict[str, object]:
        keys = (
            "field",
            "accuracy",
            "macro_f1",
            "weighted_f1",
            "top3_accuracy",
            "threshold",
            "precision_at_threshold",
            "coverage_at_threshold",
            "train_rows",
            "test_rows",
        )
        return {key: _round(getattr(self, key)) for key in keys}


def _round(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


FitLog = Callable[[str, list[str]], None]
Embed = Callable[[list[str]], np.ndarray]


def _vectors_of(rows: list[Row], vectors: dict[str, np.ndarray] | None) -> np.ndarray | None:
    return np.stack([vectors[row.row_id] for row in rows]) if vectors is not None else None


def _fold_probabilities(
    config: ClassifierConfig,
    fit_rows: list[Row],
    held_rows: list[Row],
    column: str,
    classes: np.ndarray,
    vectors: dict[str, np.ndarray] | None,
) -> dict[float, dict[str, np.ndarray]]:
    """Members fitted on ``fit_rows``, their probabilities for ``held_rows`` per temperature,
    in the columns of ``classes`` (a class the fold never saw gets 0)."""
    model = TextClassifier(config).fit(
        [row.text for row in fit_rows],
        [row.title for row in fit_rows],
        [row.values[column] for row in fit_rows],
        keys=[row.row_id for row in fit_rows],
        embeddings=_vectors_of(fit_rows, vectors),
    )
    columns = np.searchsorted(classes, model.classes_)
    result: dict[float, dict[str, np.ndarray]] = {}
    by_temperature = model.member_probabilities_by_temperature(
        [row.text for row in held_rows],
        [row.title for row in held_rows],
        TEMPERATURES,
        embeddings=_vectors_of(held_rows, vectors),
    )
    for temperature, members in by_temperature.items():
        result[temperature] = {}
        for name, probabilities in members.items():
            full = np.zeros((len(held_rows), len(classes)))
            full[:, columns] = probabilities
            result[temperature][name] = full
    return result


def evaluate_field(
    rows: list[Row],
    spec: FieldSpec,
    *,
    config: ClassifierConfig | None = None,
    target_precision: float = TARGET_PRECISION,
    on_fit: FitLog | None = None,
    progress: Callable[[str], None] | None = None,
    vectors: dict[str, np.ndarray] | None = None,
    folds: int = FOLDS,
    jobs: int = 1,
) -> FieldReport:
    """Tune by cross-validation on train + val, refit on train + val, score test once.

    ``on_fit(stage, row_ids)`` sees every fit; ``vectors`` (row id → sentence embedding)
    turn on the embedding members; ``jobs`` > 1 fits the folds in parallel processes.
    """
    started = time.perf_counter()
    say = progress or (lambda message: None)
    kept = [row for row in rows if spec.keep(row) and row.values.get(spec.column, "") != ""]
    part = {split: [row for row in kept if row.split == split] for split in SPLITS}
    for split in SPLITS:
        if not part[split]:
            raise DatasetError(f"{spec.name}: the {split} split is empty.")
    candidates = config or candidate_config(embeddings=vectors is not None)
    fit_rows = part["train"] + part["val"]
    truth = np.array([row.values[spec.column] for row in fit_rows])
    classes = np.unique(truth)

    # 1. Out-of-fold probabilities of every candidate member over train + val, the folds
    #    grouped as the published split is (identical title and body on one side only), so
    #    near-duplicates cross folds as they cross from train to test.
    groups = [row.group or row.row_id for row in fit_rows]
    n_folds = max(2, min(folds, len(set(groups))))
    splits = list(GroupKFold(n_splits=n_folds).split(fit_rows, groups=groups))
    say(f"{spec.name}: {n_folds}-fold cross-validation over {len(fit_rows)} train+val rows")
    for fit_index, _held in splits:
        if on_fit is not None:
            on_fit("tune", [fit_rows[i].row_id for i in fit_index])
    outputs = Parallel(n_jobs=jobs)(
        delayed(_fold_probabilities)(
            candidates,
            [fit_rows[i] for i in fit_index],
            [fit_rows[i] for i in held],
            spec.column,
            classes,
            vectors,
        )
        for fit_index, held in splits
    )
    oof: dict[float, dict[str, np.ndarray]] = {
        temperature: {member.name: np.zeros((len(fit_rows), len(classes))) for member in candidates.members}
        for temperature in TEMPERATURES
    }
    for (_fit_index, held), output in zip(splits, outputs, strict=True):
        for temperature, members in output.items():
            for name, probabilities in members.items():
                oof[temperature][name][held] = probabilities

    # 2. Blend, calibrator and threshold chosen on the out-of-fold probabilities.
    def objective(probabilities: np.ndarray) -> tuple[float, dict]:
        figures = scores(probabilities, truth, classes)
        score = figures["accuracy"] + figures["macro_f1"] + (figures["top3_accuracy"] if spec.top3 else 0.0)
        return score, figures

    choice = tune_blend(oof, candidates.members, objective)
    chosen = replace(
        candidates, members=[m for m in choice.members if m.weight > 0], temperature=choice.temperature
    )
    held_out = blend(oof[choice.temperature], chosen.members)
    held_top = held_out.max(axis=1)
    held_correct = classes[held_out.argmax(axis=1)] == truth
    calibrator = TopLabelCalibrator().fit(held_top, held_correct)
    threshold = choose_threshold(
        calibrator.transform(held_top), held_correct, target_precision, z=CONSERVATIVE_Z
    )
    say(
        f"{spec.name}: cross-validated {format_figures(choice.report)}; blend {describe(chosen)}; "
        f"threshold {threshold:.3f}"
    )

    # 3. Refit the chosen members on train + val; score test once.
    if on_fit is not None:
        on_fit("final", [row.row_id for row in fit_rows])
    final = TextClassifier(chosen).fit(
        [row.text for row in fit_rows],
        [row.title for row in fit_rows],
        truth.tolist(),
        keys=[row.row_id for row in fit_rows],
        embeddings=_vectors_of(fit_rows, vectors if chosen.needs_embeddings else None),
    )
    test_rows = part["test"]
    test_truth = np.array([row.values[spec.column] for row in test_rows])
    probabilities = final.predict_proba(
        [row.text for row in test_rows],
        [row.title for row in test_rows],
        embeddings=_vectors_of(test_rows, vectors if chosen.needs_embeddings else None),
    )
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
        test_rows=len(test_rows),
        ece=expected_calibration_error(confidence, correct),
        val=choice.report,
        blend=describe(chosen),
        seconds=time.perf_counter() - started,
        embeddings=vectors is not None,
    )


def describe(config: ClassifierConfig) -> str:
    parts = [f"{member.weight:g}×{member.name}" for member in config.members]
    return " + ".join(parts) + f" (T={config.temperature:g})"


def format_figures(figures: dict[str, float]) -> str:
    return " ".join(f"{key}={value:.3f}" for key, value in figures.items())


def evaluate_dataset(
    dataset: str,
    data_dir: str | Path,
    *,
    on_fit: FitLog | None = None,
    progress: Callable[[str], None] | None = None,
    fields: Iterable[str] | None = None,
    embed: Embed | None = None,
    jobs: int = 1,
) -> list[FieldReport]:
    """Every field of ``dataset``; with ``embed`` (texts → normalised vectors) the embedding
    members take part."""
    rows = load_rows(dataset, data_dir)
    vectors = None
    if embed is not None:
        matrix = embed([row.text for row in rows])
        vectors = {row.row_id: matrix[i] for i, row in enumerate(rows)}
    wanted = set(fields) if fields else None
    return [
        evaluate_field(rows, spec, on_fit=on_fit, progress=progress, vectors=vectors, jobs=jobs)
        for spec in DATASETS[dataset].fields
        if wanted is None or spec.name in wanted
    ]


def cached_embeddings(
    embed: Embed,
    cache_dir: str | Path | None,
    model: str,
    progress: Callable[[str], None] | None = None,
    batch: int = 512,
) -> Embed:
    """``embed`` with a file cache: the same texts embedded by the same model are read back.

    The key is a hash of the model name and every text, so a changed cleaning or dataset
    never reuses stale vectors. Embedding the ATA texts on two CPU cores takes minutes; the
    evaluation itself, well under that.
    """
    say = progress or (lambda message: None)

    def run(texts: list[str]) -> np.ndarray:
        digest = hashlib.sha256(model.encode())
        for text in texts:
            digest.update(text.encode())
            digest.update(b"\x00")
        path = Path(cache_dir) / f"{digest.hexdigest()[:24]}.npy" if cache_dir else None
        if path is not None and path.is_file():
            cached = np.load(path)
            if cached.shape[0] == len(texts):
                say(f"embeddings of {len(texts)} texts read from {path}")
                return cached
        parts = []
        for start in range(0, len(texts), batch):
            parts.append(np.asarray(embed(texts[start : start + batch]), dtype=np.float32))
            say(f"embedded {min(start + batch, len(texts))}/{len(texts)} texts ({model})")
        matrix = np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp.npy")
            np.save(temporary, matrix)
            temporary.replace(path)
        return matrix

    return run
