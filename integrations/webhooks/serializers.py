"""Webhook API shapes: subscriptions (admins), deliveries and their attempts."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from integrations.webhooks.events import Event
from integrations.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    validate_auth_header_name,
    validate_outbound_url,
)


def _django_validator(function):
    def run(value):
        try:
            function(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error

    return run


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices),
        allow_empty=False,
        help_text="Any of: " + ", ".join(Event.values),
    )
    url = serializers.URLField(max_length=500, validators=[_django_validator(validate_outbound_url)])
    secret = serializers.CharField(
        required=False,
        min_length=16,
        max_length=200,
        help_text="HMAC-SHA256 signing secret; generated when omitted.",
    )
    auth_header_name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        validators=[_django_validator(validate_auth_header_name)],
    )
    auth_header_value = serializers.CharField(
        required=False, allow_blank=True, max_length=500, write_only=True
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "events",
            "active",
            "secret",
            "auth_header_name",
            "auth_header_value",
            "description",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_events(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def validate(self, attrs: dict) -> dict:
        name = attrs.get("auth_header_name", getattr(self.instance, "auth_header_name", ""))
        value = attrs.get("auth_header_value", getattr(self.instance, "auth_header_value", ""))
        if bool(name) != bool(value):
            raise serializers.ValidationError(
                {"auth_header_value": "Give both the auth header name and its value, or neither."}
            )
        return attrs


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number",
            "run_id",
            "started_at",
            "duration_ms",
            "response_code",
            "response_excerpt",
            "error",
            "outcome",
        ]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    subscription_name = serializers.CharField(source="subscription.name", read_only=True)
    redelivery_of = serializers.UUIDField(source="redelivery_of.delivery_id", read_only=True, default=None)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "delivery_id",
            "subscription",
            "subscription_name",
            "event",
            "status",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "last_attempt_at",
            "response_code",
            "response_excerpt",
            "error",
            "trace_id",
            "run_id",
            "occurred_at",
            "succeeded_at",
            "redelivery_of",
            "created_at",
        ]
        read_only_fields = fields


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    attempts_log = WebhookAttemptSerializer(source="attempt_log", many=True, read_only=True)

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "payload", "attempts_log"]
        read_only_fields = fields
