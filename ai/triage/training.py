"""Training on the organisation's own resolved tickets (``ai_train`` and the nightly task).

For each learned field with enough resolved tickets carrying a value, a ``TextClassifier``
is fitted. Its confidence is calibrated on out-of-fold predictions (3 folds over the same
tickets, so the calibrator never sees a prediction made by a model that trained on that
ticket), which also give the held-out accuracy and the proposed auto threshold shown to
admins: the lowest confidence at which the held-out precision is above the target with 90%
confidence (lower end of its Wilson interval), so a few lucky tickets do not set it. Then the classifier is refitted on all the tickets.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from django.conf import settings
from sklearn.model_selection import KFold

from ai.providers import ProviderUnavailable
from ai.providers.embeddings import embed_texts
from ai.triage.classifier import (
    CONSERVATIVE_Z,
    ClassifierConfig,
    Member,
    TextClassifier,
    TopLabelCalibrator,
    choose_threshold,
    expected_calibration_error,
)
from ai.triage.evaluation import macro_f1
from ai.triage.models import LEARNED_FIELDS, TriageField
from ai.triage.predict import FieldModel
from ai.triage.text import ticket_text, title_text
from tickets.models import Ticket, TicketStatus

FOLDS = 3
logger = logging.getLogger(__name__)


def product_config(embeddings: bool | None = None) -> ClassifierConfig:
    """The members used in the product: one class-weighted SVM and a word k-NN vote.

    Lighter than the evaluation blend (one SVM instead of up to three, capped vocabularies:
    n-grams seen once are dropped) so that the model stays small in the database, loads
    fast and retrains quickly; the k-NN member is what names the similar past tickets in the
    reasoning. With ``embeddings`` (default ``AI_TRIAGE_EMBEDDINGS``) the SVM also reads the
    ticket's sentence embedding, 384 more weights per class: +1 point of accuracy on the ATA
    folds, and no training vectors to store.
    """
    use_embeddings = settings.AI_TRIAGE_EMBEDDINGS if embeddings is None else embeddings
    return ClassifierConfig(
        members=[Member("svm", 1.0, class_weight_power=0.5, c=0.5), Member("knn", 0.5, k=10, space="word")],
        temperature=5.0,
        word_max_features=60_000,
        word_min_df=2,
        title_max_features=20_000,
        char_max_features=30_000,
        embedding_weight=1.0 if use_embeddings else 0.0,
    )


@dataclass
class TrainingRow:
    number: str
    text: str
    title: str
    values: dict[str, str]


@dataclass
class TrainingOutcome:
    models: dict[str, FieldModel]
    rows: dict[str, int]
    metrics: dict[str, dict[str, Any]]
    last_resolved_at: Any = None
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


FIELD_COLUMNS = {
    TriageField.CATEGORY: "category_id",
    TriageField.IMPACT: "impact",
    TriageField.URGENCY: "urgency",
    TriageField.TEAM: "team_id",
}


def resolved_rows(limit: int | None = None) -> tuple[list[TrainingRow], Any]:
    """The newest resolved or closed tickets, as training rows (one query).

    Sensitive tickets are left out: a prediction's reasoning names its most similar training
    tickets and decisive words to every agent who sees the predicted ticket.
    """
    limit = limit or settings.AI_TRIAGE_MAX_TRAINING_TICKETS
    records = list(
        Ticket.objects.filter(
            status__in=[TicketStatus.RESOLVED, TicketStatus.CLOSED],
            resolved_at__isnull=False,
            sensitive=False,
        )
        .order_by("-resolved_at", "-id")
        .values("number", "title", "description", "type", "resolved_at", *FIELD_COLUMNS.values())[:limit]
    )
    rows = [
        TrainingRow(
            number=record["number"],
            text=ticket_text(record["title"], record["description"], ticket_type=record["type"]),
            title=title_text(record["title"]),
            values={
                name: "" if record[column] is None else str(record[column])
                for name, column in FIELD_COLUMNS.items()
            },
        )
        for record in records
    ]
    return rows, (records[0]["resolved_at"] if records else None)


def train_field(
    name: str,
    rows: list[TrainingRow],
    config: ClassifierConfig,
    target_precision: float,
    vectors: dict[str, np.ndarray] | None = None,
) -> FieldModel:
    """``vectors`` (ticket number → sentence embedding) are needed when ``config`` uses them."""
    texts = [row.text for row in rows]
    titles = [row.title for row in rows]
    labels = np.array([row.values[name] for row in rows])
    keys = [row.number for row in rows]
    embeddings = None
    if config.needs_embeddings:
        if vectors is None:
            raise ValueError("This configuration reads sentence embeddings: pass the tickets' vectors.")
        embeddings = np.stack([vectors[row.number] for row in rows])
    # Out-of-fold predictions: every ticket scored by a model that did not see it.
    top = np.zeros(len(rows))
    predicted = np.empty(len(rows), dtype=object)
    folds = KFold(n_splits=min(FOLDS, len(rows)), shuffle=True, random_state=0)
    for fit_index, held_index in folds.split(texts):
        fold = TextClassifier(config).fit(
            [texts[i] for i in fit_index],
            [titles[i] for i in fit_index],
            labels[fit_index],
            embeddings=embeddings[fit_index] if embeddings is not None else None,
        )
        probabilities = fold.predict_proba(
            [texts[i] for i in held_index],
            [titles[i] for i in held_index],
            embeddings=embeddings[held_index] if embeddings is not None else None,
        )
        top[held_index] = probabilities.max(axis=1)
        predicted[held_index] = fold.classes_[probabilities.argmax(axis=1)]
    correct = predicted == labels
    calibrator = TopLabelCalibrator().fit(top, correct)
    confidence = calibrator.transform(top)
    threshold = choose_threshold(confidence, correct, target_precision, z=CONSERVATIVE_Z)
    covered = confidence >= threshold
    metrics = {
        "rows": len(rows),
        "classes": len(set(labels.tolist())),
        "held_out_accuracy": round(float(correct.mean()), 4),
        "held_out_macro_f1": round(macro_f1(labels, predicted.astype(str)), 4),
        "ece": round(expected_calibration_error(confidence, correct), 4),
        "proposed_threshold": round(threshold, 4),
        "precision_at_proposed": round(float(correct[covered].mean()), 4) if covered.any() else None,
        "coverage_at_proposed": round(float(covered.mean()), 4),
    }
    classifier = TextClassifier(config).fit(texts, titles, labels, keys=keys, embeddings=embeddings)
    return FieldModel(name, classifier, calibrator, threshold, metrics)


def embed_rows(rows: list[TrainingRow]) -> dict[str, np.ndarray]:
    """Sentence embeddings of the training tickets, by number (raises ``ProviderUnavailable``).

    The provider batches (``AI_EMBEDDINGS_BATCH_SIZE``)."""
    matrix = np.asarray(embed_texts([row.text for row in rows]), dtype=np.float32)
    return {row.number: matrix[i] for i, row in enumerate(rows)}


def train(
    min_rows: int, target_precision: float, config: ClassifierConfig | None = None, limit: int | None = None
) -> TrainingOutcome:
    started = time.perf_counter()
    config = config or product_config()
    rows, last_resolved_at = resolved_rows(limit)
    outcome = TrainingOutcome(models={}, rows={}, metrics={}, last_resolved_at=last_resolved_at)
    vectors = None
    if config.needs_embeddings and rows:
        try:
            vectors = embed_rows(rows)
        except ProviderUnavailable as error:
            # Training does not wait for the embeddings provider: TF-IDF alone, and it says so.
            logger.warning("triage training without embeddings: %s", error)
            config = replace(config, embedding_weight=0.0)
            outcome.notes.append(f"Trained without sentence embeddings: {error}")
    for name in LEARNED_FIELDS:
        field_rows = [row for row in rows if row.values[name]]
        outcome.rows[name] = len(field_rows)
        distinct = len({row.values[name] for row in field_rows})
        if len(field_rows) < max(min_rows, FOLDS):
            outcome.skipped[name] = f"{len(field_rows)} resolved tickets with a {name}, {min_rows} needed"
            continue
        if distinct < 2:
            outcome.skipped[name] = f"every resolved ticket has the same {name}"
            continue
        model = train_field(name, field_rows, config, target_precision, vectors)
        outcome.models[name] = model
        outcome.metrics[name] = model.metrics
    outcome.seconds = time.perf_counter() - started
    return outcome
