"""SLA API shapes. Input serializers validate only; the writes are in ``sla.actions``."""

from __future__ import annotations

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import serializers

from sla.models import Calendar, EscalationStep, SLAPolicy, SLARiskEvaluation, check_escalation_chain


class SLAClockSerializer(serializers.Serializer):
    metric = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["ok", "at_risk", "breached", "completed", "paused", "cancelled", "unknown"]
    )
    state = serializers.CharField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    remaining_seconds = serializers.IntegerField(allow_null=True, help_text="Negative once breached.")
    paused_seconds = serializers.IntegerField()
    paused_since = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)
    target_seconds = serializers.IntegerField(allow_null=True)
    escalation_level = serializers.IntegerField()
    source = serializers.CharField(allow_null=True)
    policy = serializers.CharField(allow_null=True)


class TicketSLASerializer(serializers.Serializer):
    ticket = serializers.IntegerField()
    number = serializers.CharField()
    clocks = SLAClockSerializer(many=True)


class SLARunInputSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False)


class SLASweepActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    ticket_id = serializers.IntegerField()
    ticket_number = serializers.CharField()
    metric = serializers.CharField()
    clock_id = serializers.IntegerField()
    due_at = serializers.CharField(allow_null=True)
    level = serializers.IntegerField()
    step = serializers.CharField()


class SLASweepReportSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    now = serializers.CharField()
    trace_id = serializers.CharField()
    warnings = serializers.IntegerField()
    breaches = serializers.IntegerField()
    escalations = serializers.IntegerField()
    risk_evaluations = serializers.IntegerField()
    duration_ms = serializers.FloatField()
    actions = SLASweepActionSerializer(many=True)
    actions_truncated = serializers.BooleanField()


class SLARiskEvaluationSerializer(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket_id")

    class Meta:
        model = SLARiskEvaluation
        fields = [
            "id",
            "ticket",
            "score",
            "band",
            "confidence",
            "suggested_priority",
            "reasoning",
            "model_version",
            "mode",
            "features",
            "created_at",
        ]


class SLASyncResultSerializer(serializers.Serializer):
    ticket = serializers.IntegerField()
    synced = serializers.IntegerField()
    clocks = SLAClockSerializer(many=True)


class SLAStatsQuerySerializer(serializers.Serializer):
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("since") and attrs.get("until") and attrs["until"] < attrs["since"]:
            raise serializers.ValidationError({"until": _("The end date is before the start date.")})
        return attrs


class SLARateSerializer(serializers.Serializer):
    clocks = serializers.IntegerField()
    with_outcome = serializers.IntegerField()
    breached = serializers.IntegerField()
    met = serializers.IntegerField()
    breach_rate = serializers.FloatField(allow_null=True)


class SLAStatsSerializer(serializers.Serializer):
    since = serializers.DateField(allow_null=True)
    until = serializers.DateField(allow_null=True)
    first_response = SLARateSerializer()
    resolution = SLARateSerializer()
    by_priority = serializers.DictField(child=serializers.DictField(child=SLARateSerializer()))
    at_risk_now = serializers.IntegerField()
    breached_open_now = serializers.IntegerField()


# --- policies ----------------------------------------------------------------------------------------------
class SLAEscalationStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = EscalationStep
        fields = ["position", "after_minutes", "metric", "action", "role", "team"]

    def validate(self, attrs: dict) -> dict:
        step = EscalationStep(**attrs)
        try:
            step.clean()
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return attrs


class SLAPolicySerializer(serializers.ModelSerializer):
    escalation_steps = SLAEscalationStepSerializer(many=True, required=False)
    calendar = serializers.PrimaryKeyRelatedField(queryset=Calendar.objects.all(), required=False)

    class Meta:
        model = SLAPolicy
        fields = [
            "id",
            "name",
            "priority",
            "ticket_type",
            "category",
            "organisation",
            "response_minutes",
            "resolution_minutes",
            "calendar",
            "warning_threshold_percent",
            "is_active",
            "escalation_steps",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]
        # The unique-criteria rule is checked (with a clear message) by the model's clean().
        validators: list = []

    def validate(self, attrs: dict) -> dict:
        steps = attrs.pop("escalation_steps", None)
        values = {name: value for name, value in attrs.items()}
        if self.instance is None:
            values.setdefault("calendar", Calendar.objects.filter(builtin=True).first())
        # Check a copy: the instance itself changes only in the action, after validation.
        policy = copy.copy(self.instance) if self.instance is not None else SLAPolicy()
        for name, value in values.items():
            setattr(policy, name, value)
        if policy.calendar_id is None:
            raise serializers.ValidationError({"calendar": _("Choose a calendar.")})
        try:
            policy.full_clean(exclude=["calendar", "category", "organisation"], validate_unique=True)
            if steps is not None:
                check_escalation_chain([EscalationStep(**step) for step in steps])
        except DjangoValidationError as error:
            raise serializers.ValidationError(
                error.message_dict if hasattr(error, "message_dict") else {"escalation_steps": error.messages}
            ) from error
        if steps is not None:
            values["escalation_steps"] = steps
        return values
