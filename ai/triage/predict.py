"""Triage of one ticket's text: the trained models when there are some, keyword rules
otherwise, then routing. ``classify`` is the one code path of the API, the worker and the
benchmark; it writes nothing.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
from django.utils.translation import gettext as _

from ai.providers import ProviderUnavailable
from ai.providers.embeddings import embed_texts
from ai.triage import rules
from ai.triage.classifier import TextClassifier, TopLabelCalibrator
from ai.triage.models import TriageField, TriageModel
from ai.triage.routing import suggest_assignee
from ai.triage.text import ticket_text, title_text
from itsm.models import Team
from tickets.models import Category, Impact, Urgency

RULES_VERSION = "rules-v1"
logger = logging.getLogger(__name__)


@dataclass
class FieldModel:
    """A trained field: its classifier, calibrator and the threshold proposed for auto."""

    field: str
    classifier: TextClassifier
    calibrator: TopLabelCalibrator
    proposed_threshold: float
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Bundle:
    version: int
    label: str
    models: dict[str, FieldModel]
    training_rows: dict[str, int]


@dataclass
class FieldPrediction:
    field: str
    value: str
    label: str
    confidence: float
    reasoning: str
    method: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "reasoning": self.reasoning,
            "method": self.method,
            "evidence": self.evidence,
        }


@dataclass
class Triage:
    predictions: dict[str, FieldPrediction]
    model_version: str
    latency_ms: float
    # Objects the predictions name, so callers need no second query.
    objects: dict[str, Any] = field(default_factory=dict)


# --- the active model, loaded once per process and version ------------------------------------
_cache: dict[str, Bundle | None] = {}
_lock = threading.Lock()


def dump_bundle(models: dict[str, FieldModel]) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(models, buffer)
    return zlib.compress(buffer.getvalue(), 6)


def load_bundle(blob: bytes) -> dict[str, FieldModel]:
    # The blob is written by ai_train into our own database; nothing else writes it.
    return joblib.load(io.BytesIO(zlib.decompress(bytes(blob))))


def active_bundle() -> Bundle | None:
    """The active trained models (one small query to see whether the version changed)."""
    current = TriageModel.objects.active().values_list("pk", "version").first()
    if current is None:
        return None
    pk, version = current
    cached = _cache.get("bundle")
    if cached is not None and cached.version == version:
        return cached
    with _lock:
        cached = _cache.get("bundle")
        if cached is not None and cached.version == version:
            return cached
        row = TriageModel.objects.filter(pk=pk).only("blob", "version", "training_rows").first()
        if row is None:
            return None
        bundle = Bundle(
            version=row.version,
            label=row.label,
            models=load_bundle(row.blob),
            training_rows=dict(row.training_rows),
        )
        _cache["bundle"] = bundle
        return bundle


def forget_cached_bundle() -> None:
    _cache.pop("bundle", None)


# --- prediction -------------------------------------------------------------------------------------
LEVEL_LABELS = {"impact": dict(Impact.choices), "urgency": dict(Urgency.choices)}


def classify(title: str, description: str = "", ticket_type: str = "incident") -> Triage:
    started = time.perf_counter()
    bundle = active_bundle()
    text = ticket_text(title, description, ticket_type=ticket_type)
    title_only = title_text(title)
    categories = {
        str(c.pk): c for c in Category.objects.filter(active=True).select_related("default_team", "parent")
    }
    teams: dict[str, Team] | None = None
    predictions: dict[str, FieldPrediction] = {}
    models = bundle.models if bundle else {}
    version = bundle.label if bundle else RULES_VERSION
    vector = ticket_vector(text, models)

    # Category
    category_model = models.get(TriageField.CATEGORY)
    prediction = None
    if category_model is not None:
        prediction = _model_prediction(
            category_model,
            text,
            title_only,
            version,
            lambda value: categories[value].name if value in categories else None,
            vector,
        )
    if prediction is None:
        prediction = _category_rule(title, description, categories, bundle)
    if prediction is not None:
        predictions[TriageField.CATEGORY] = prediction
    category = (
        categories.get(predictions[TriageField.CATEGORY].value)
        if TriageField.CATEGORY in predictions
        else None
    )

    # Impact and urgency
    for name, matcher in (
        (TriageField.IMPACT, rules.match_impact),
        (TriageField.URGENCY, rules.match_urgency),
    ):
        labels = LEVEL_LABELS[name]
        prediction = None
        if name in models:
            prediction = _model_prediction(
                models[name],
                text,
                title_only,
                version,
                lambda value, labels=labels: str(labels[value]) if value in labels else None,
                vector,
            )
        if prediction is None:
            prediction = _level_rule(name, matcher(title, description), labels, bundle)
        predictions[name] = prediction

    # Team
    team_model = models.get(TriageField.TEAM)
    prediction = None
    if team_model is not None:
        teams = {str(team.pk): team for team in Team.objects.all()}
        prediction = _model_prediction(
            team_model,
            text,
            title_only,
            version,
            lambda value: teams[value].name if value in teams else None,
            vector,
        )
    if prediction is None and category is not None and category.default_team_id:
        category_prediction = predictions[TriageField.CATEGORY]
        teams = teams or {}
        teams[str(category.default_team_id)] = category.default_team
        prediction = FieldPrediction(
            TriageField.TEAM,
            str(category.default_team_id),
            category.default_team.name,
            category_prediction.confidence,
            _("The team of the predicted category %(category)s.") % {"category": category.name},
            "rules",
            {"category": category.name},
        )
    team = None
    if prediction is not None:
        predictions[TriageField.TEAM] = prediction
        team = (teams or {}).get(prediction.value)

    # Assignee: routed within the predicted team.
    assignee = None
    if team is not None:
        routing = suggest_assignee(team, category)
        assignee = routing.user
        if assignee is not None:
            predictions[TriageField.ASSIGNEE] = FieldPrediction(
                TriageField.ASSIGNEE,
                str(assignee.pk),
                assignee.get_full_name(),
                predictions[TriageField.TEAM].confidence,
                routing.reasoning,
                "routing",
                {
                    "candidates": [
                        {"email": c.user.email, "open_tickets": c.open_tickets, "has_skill": c.has_skill}
                        for c in routing.candidates[:10]
                    ]
                },
            )
    latency = (time.perf_counter() - started) * 1000
    return Triage(predictions, version, latency, {"category": category, "team": team, "assignee": assignee})


def ticket_vector(text: str, models: dict[str, FieldModel]) -> np.ndarray | None:
    """The ticket's sentence embedding when a model reads one, else None.

    When the embeddings provider is down (or now gives another size of vector than the
    models were trained on), a zero vector stands in: the SVMs then decide on the words
    alone, which is how the model was before embeddings, rather than triage failing.
    """
    sizes = {
        m.classifier.embedding_dimensions_ for m in models.values() if m.classifier.config.needs_embeddings
    }
    if not sizes:
        return None
    size = max(sizes)
    try:
        vector = np.asarray(embed_texts([text]), dtype=np.float32)
    except ProviderUnavailable as error:
        logger.warning("triage without the ticket's embedding: %s", error)
        return np.zeros((1, size), dtype=np.float32)
    if vector.shape != (1, size):
        logger.warning(
            "triage without the ticket's embedding: %s dimensions, the models know %s", vector.shape, size
        )
        return np.zeros((1, size), dtype=np.float32)
    return vector


def _model_prediction(
    field_model: FieldModel, text: str, title: str, version: str, label_of, vector: np.ndarray | None = None
) -> FieldPrediction | None:
    classifier = field_model.classifier
    needs = classifier.config.needs_embeddings
    probabilities = classifier.predict_proba([text], [title], embeddings=vector if needs else None)[0]
    order = np.argsort(-probabilities)
    for index in order[:3]:
        value = str(classifier.classes_[index])
        label = label_of(value)
        if label is None:  # the category or team was deleted since training: try the next best
            continue
        confidence = float(field_model.calibrator.transform(np.array([probabilities[index]]))[0])
        neighbours = classifier.neighbours(text, k=3)
        terms = classifier.decisive_terms(text, value, n=4)
        similar = [
            {
                "ticket": str(key),
                "value": neighbour_value,
                "label": label_of(neighbour_value) or neighbour_value,
                "similarity": round(similarity, 2),
            }
            for key, neighbour_value, similarity in neighbours
        ]
        return FieldPrediction(
            field_model.field,
            value,
            label,
            confidence,
            _reasoning(version, label, confidence, similar, terms),
            "model",
            {"similar": similar, "terms": terms},
        )
    return None


def _reasoning(version: str, label: str, confidence: float, similar: list[dict], terms: list[str]) -> str:
    parts = [
        _("%(label)s, %(percent)s%% confident (%(version)s, calibrated).")
        % {"label": label, "percent": round(confidence * 100), "version": version}
    ]
    agreeing = [item for item in similar if item["label"] == label]
    if similar:
        described = ", ".join(
            f"{item['ticket']} ({item['label']}, {round(item['similarity'] * 100)}% similar)"
            for item in similar
        )
        parts.append(
            _("Most similar past tickets: %(tickets)s; %(agree)s of %(total)s agree.")
            % {"tickets": described, "agree": len(agreeing), "total": len(similar)}
        )
    if terms:
        parts.append(_("Decisive terms: %(terms)s.") % {"terms": ", ".join(terms)})
    return " ".join(parts)


def _why_rules(field_name: str, bundle: Bundle | None) -> str:
    if bundle is None:
        return _("No trained model yet, so keyword rules decide.")
    rows = bundle.training_rows.get(field_name, 0)
    return _(
        "The trained model has no %(field)s yet (%(rows)s resolved tickets with one), so keyword rules decide."
    ) % {"field": field_name, "rows": rows}


def _category_rule(
    title: str, description: str, categories: dict[str, Category], bundle: Bundle | None
) -> FieldPrediction | None:
    match = rules.match_category(
        title,
        description,
        [(value, category.name, category.keyword_list()) for value, category in categories.items()],
    )
    if match is None:
        return None
    category = categories[match.value]
    reasoning = (
        _why_rules(TriageField.CATEGORY, bundle)
        + " "
        + _("Keywords of %(category)s found: %(terms)s.")
        % {"category": category.name, "terms": ", ".join(match.terms)}
    )
    return FieldPrediction(
        TriageField.CATEGORY,
        match.value,
        category.name,
        match.confidence,
        reasoning,
        "rules",
        {"terms": match.terms},
    )


def _level_rule(name: str, match: rules.RuleMatch, labels: dict, bundle: Bundle | None) -> FieldPrediction:
    if match.terms:
        detail = _("Words suggesting %(level)s %(field)s: %(terms)s.") % {
            "level": labels[match.value],
            "field": name,
            "terms": ", ".join(match.terms),
        }
    else:
        detail = _("No word suggests another level than medium.")
    return FieldPrediction(
        name,
        match.value,
        str(labels[match.value]),
        match.confidence,
        _why_rules(name, bundle) + " " + detail,
        "rules",
        {"terms": match.terms},
    )
