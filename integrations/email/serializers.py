from __future__ import annotations

from rest_framework import serializers

from integrations.email.models import EmailReceipt


class EmailReceiptSerializer(serializers.ModelSerializer):
    ticket_number = serializers.CharField(source="ticket.number", read_only=True, default=None)

    class Meta:
        model = EmailReceipt
        fields = [
            "id",
            "message_id",
            "sender",
            "subject",
            "size",
            "source",
            "status",
            "reason",
            "ticket",
            "ticket_number",
            "comment",
            "attachments_kept",
            "attachments_dropped",
            "received_at",
        ]
        read_only_fields = fields


class IngestResultSerializer(EmailReceiptSerializer):
    duplicate = serializers.BooleanField(read_only=True)

    class Meta(EmailReceiptSerializer.Meta):
        fields = [*EmailReceiptSerializer.Meta.fields, "duplicate"]
        read_only_fields = fields
