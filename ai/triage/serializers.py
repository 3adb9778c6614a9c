"""Input and output shapes of the triage API."""

from __future__ import annotations

from rest_framework import serializers

from ai.triage.models import TriageResult
from tickets.models import TicketType


class ClassifyInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, trim_whitespace=True)
    description = serializers.CharField(max_length=50_000, required=False, allow_blank=True, default="")
    type = serializers.ChoiceField(choices=TicketType.choices, required=False, default=TicketType.INCIDENT)


class FieldPredictionSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    confidence = serializers.FloatField()
    reasoning = serializers.CharField()
    method = serializers.CharField(help_text="model, rules or routing")
    evidence = serializers.JSONField()
    mode = serializers.CharField(help_text="the field's mode: shadow, assist or auto")
    threshold = serializers.FloatField()
    would_apply = serializers.BooleanField(help_text="auto mode and confidence at or above the threshold")


class ClassifyOutputSerializer(serializers.Serializer):
    model_version = serializers.CharField()
    latency_ms = serializers.FloatField()
    predictions = serializers.DictField(child=FieldPredictionSerializer())


class TriageResultSerializer(serializers.ModelSerializer):
    ticket_number = serializers.CharField(source="ticket.number", read_only=True)
    decided_by = serializers.EmailField(
        source="decided_by.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = TriageResult
        fields = [
            "id",
            "ticket",
            "ticket_number",
            "field",
            "predicted_value",
            "predicted_label",
            "confidence",
            "reasoning",
            "evidence",
            "method",
            "model_version",
            "latency_ms",
            "mode",
            "threshold",
            "initial_value",
            "status",
            "applied",
            "decided_by",
            "decided_at",
            "final_value",
            "correct",
            "evaluated_at",
            "created_at",
        ]
        read_only_fields = fields
