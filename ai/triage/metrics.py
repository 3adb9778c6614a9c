"""How good triage is in production: every stored prediction against the value the ticket
was resolved with. One grouped query for all fields.

Per field: ``predictions``; ``evaluated`` (tickets resolved since); ``accuracy`` over the
evaluated; ``coverage_at_threshold`` (share of evaluated predictions at or above the auto
threshold in force when they were made) and ``precision_at_threshold`` (accuracy of those);
``auto_applied`` and the ``auto_no_correction_rate`` (applied automatically and still the
value at resolution); ``accepted`` / ``rejected`` suggestions and the acceptance rate.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Avg, Count, F, Q

from ai.triage.models import FieldSetting, SuggestionStatus, TriageField, TriageModel, TriageResult


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def field_metrics() -> dict[str, dict[str, Any]]:
    evaluated = Q(correct__isnull=False)
    confident = Q(threshold__isnull=False, confidence__gte=F("threshold"))
    rows = (
        TriageResult.objects.values("field")
        .annotate(
            n_predictions=Count("id"),
            n_evaluated=Count("id", filter=evaluated),
            n_correct=Count("id", filter=Q(correct=True)),
            n_covered=Count("id", filter=evaluated & confident),
            n_covered_correct=Count("id", filter=Q(correct=True) & confident),
            n_auto_applied=Count("id", filter=Q(applied=True)),
            n_auto_evaluated=Count("id", filter=Q(applied=True) & evaluated),
            n_auto_kept=Count("id", filter=Q(applied=True, correct=True)),
            n_accepted=Count("id", filter=Q(status=SuggestionStatus.ACCEPTED)),
            n_rejected=Count("id", filter=Q(status=SuggestionStatus.REJECTED)),
            n_pending=Count("id", filter=Q(status=SuggestionStatus.PENDING)),
            n_mean_confidence=Avg("confidence"),
            n_mean_latency_ms=Avg("latency_ms"),
        )
        .order_by()
    )
    by_field = {row["field"]: row for row in rows}
    settings_rows = FieldSetting.all_fields()
    report: dict[str, dict[str, Any]] = {}
    for field in TriageField.values:
        row = by_field.get(field, {})
        count = lambda key, row=row: int(row.get(f"n_{key}") or 0)  # noqa: E731
        setting = settings_rows[field]
        report[field] = {
            "mode": setting.mode,
            "threshold": setting.threshold,
            "predictions": count("predictions"),
            "evaluated": count("evaluated"),
            "accuracy": _ratio(count("correct"), count("evaluated")),
            "precision_at_threshold": _ratio(count("covered_correct"), count("covered")),
            "coverage_at_threshold": _ratio(count("covered"), count("evaluated")),
            "auto_applied": count("auto_applied"),
            "auto_evaluated": count("auto_evaluated"),
            "auto_no_correction_rate": _ratio(count("auto_kept"), count("auto_evaluated")),
            "accepted": count("accepted"),
            "rejected": count("rejected"),
            "pending": count("pending"),
            "acceptance_rate": _ratio(count("accepted"), count("accepted") + count("rejected")),
            "mean_confidence": _rounded(row.get("n_mean_confidence"), 4),
            "mean_latency_ms": _rounded(row.get("n_mean_latency_ms"), 2),
        }
    return report


def model_summary() -> dict[str, Any] | None:
    model = TriageModel.objects.active().defer("blob").first()
    if model is None:
        return None
    return {
        "version": model.version,
        "label": model.label,
        "trained_at": model.trained_at.isoformat(),
        "training_rows": model.training_rows,
        "held_out": {
            name: figures for name, figures in model.metrics.items() if name not in ("skipped", "notes")
        },
        "skipped": model.metrics.get("skipped", {}),
        "notes": model.metrics.get("notes", []),
        "size_bytes": model.size_bytes,
        "seconds": model.seconds,
    }


def triage_metrics() -> dict[str, Any]:
    return {"model": model_summary(), "fields": field_metrics()}
