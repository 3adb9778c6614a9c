"""Chat API shapes: channels (admins) and the messages sent to them."""

from __future__ import annotations

from rest_framework import serializers

from integrations.chat.models import ChatChannel, ChatMessage
from integrations.webhooks.events import Event
from integrations.webhooks.models import validate_outbound_url
from integrations.webhooks.serializers import _django_validator


class ChatChannelSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices), allow_empty=False, required=False
    )
    webhook_url = serializers.URLField(max_length=2000, validators=[_django_validator(validate_outbound_url)])

    class Meta:
        model = ChatChannel
        fields = [
            "id",
            "name",
            "kind",
            "webhook_url",
            "events",
            "active",
            "last_success_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "last_success_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        ]

    def validate_events(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class ChatMessageSerializer(serializers.ModelSerializer):
    channel_name = serializers.CharField(source="channel.name", read_only=True)
    channel_kind = serializers.CharField(source="channel.kind", read_only=True)

    class Meta:
        model = ChatMessage
        fields = [
            "id",
            "channel",
            "channel_name",
            "channel_kind",
            "event",
            "status",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "last_attempt_at",
            "response_code",
            "response_excerpt",
            "error",
            "sent_at",
            "trace_id",
            "created_at",
            "body",
        ]
        read_only_fields = fields
