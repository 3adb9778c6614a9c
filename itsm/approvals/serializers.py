from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from itsm.approvals import registry
from itsm.approvals.models import ApprovalDecision, ApprovalRequest


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()


class TargetSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="app_label.model, e.g. runbooks.runbookexecution")
    id = serializers.IntegerField()
    label = serializers.CharField()
    url = serializers.CharField(allow_blank=True)


class DecisionSerializer(serializers.ModelSerializer):
    approver = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalDecision
        fields = ["approver", "verdict", "comment", "channel", "decided_at"]
        read_only_fields = fields

    @extend_schema_field(PersonSerializer)
    def get_approver(self, decision: ApprovalDecision) -> dict[str, Any]:
        return person(decision.approver)


def person(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "email": user.email, "name": str(user)}


class ApprovalSerializer(serializers.ModelSerializer):
    """Read prefetched (``itsm.approvals.views.approvals_for``): no query per row."""

    target = serializers.SerializerMethodField()
    requested_by = serializers.SerializerMethodField()
    approvers = serializers.SerializerMethodField()
    decisions = DecisionSerializer(many=True, read_only=True)
    can_decide = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "kind",
            "summary",
            "details",
            "status",
            "target",
            "requested_by",
            "approvers",
            "quorum",
            "rejections_needed",
            "allow_self_approval",
            "approval_count",
            "rejection_count",
            "decisions",
            "can_decide",
            "created_at",
            "expires_at",
            "decided_at",
            "closed_reason",
        ]
        read_only_fields = fields

    def _user(self) -> Any:
        request = self.context.get("request")
        return getattr(request, "user", None)

    @extend_schema_field(TargetSerializer)
    def get_target(self, approval: ApprovalRequest) -> dict[str, Any]:
        info = registry.describe(approval, self._user())
        return {"type": info.type, "id": approval.target_id, "label": info.label, "url": info.url}

    @extend_schema_field(PersonSerializer(allow_null=True))
    def get_requested_by(self, approval: ApprovalRequest) -> dict[str, Any] | None:
        if approval.requested_by is None:
            return None
        return person(approval.requested_by)

    @extend_schema_field(PersonSerializer(many=True))
    def get_approvers(self, approval: ApprovalRequest) -> list[dict[str, Any]]:
        return [person(link.user) for link in approval.approver_links.all()]

    @extend_schema_field(serializers.BooleanField())
    def get_can_decide(self, approval: ApprovalRequest) -> bool:
        user = self._user()
        return bool(user is not None and approval.can_be_decided_by(user))


class DecisionInputSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class CancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
