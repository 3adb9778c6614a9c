"""Shapes of the runbooks API. Serializers validate and shape only; actions write.

No serializer has a field that reads a connection's credential: ``secret`` is write-only and
answers show ``has_secret`` and when it was set.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from runbooks.models import (
    ConnectionKind,
    ExecutionMode,
    ExecutionStep,
    InfrastructureConnection,
    Runbook,
    RunbookExecution,
    RunbookVersion,
    SshAuth,
)


class ConnectionSerializer(serializers.ModelSerializer):
    has_secret = serializers.BooleanField(read_only=True)
    items = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = InfrastructureConnection
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "description",
            "host",
            "port",
            "username",
            "ssh_auth",
            "host_key_fingerprint",
            "base_url",
            "auth_header",
            "default_for_environments",
            "items",
            "has_secret",
            "secret_set_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ConnectionWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    kind = serializers.ChoiceField(choices=ConnectionKind.choices, required=False)
    enabled = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    host = serializers.CharField(required=False, allow_blank=True, max_length=253)
    port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    username = serializers.CharField(required=False, allow_blank=True, max_length=100)
    ssh_auth = serializers.ChoiceField(choices=SshAuth.choices, required=False)
    host_key_fingerprint = serializers.CharField(required=False, allow_blank=True, max_length=100)
    base_url = serializers.CharField(required=False, allow_blank=True, max_length=500)
    auth_header = serializers.CharField(required=False, allow_blank=True, max_length=100)
    default_for_environments = serializers.ListField(
        child=serializers.CharField(max_length=10), required=False, max_length=3
    )
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=1000
    )
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        max_length=20000,
        style={"input_type": "password"},
        help_text="SSH private key or password, HTTP auth header value, webhook signing secret. Never returned.",
    )


class VersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunbookVersion
        fields = [
            "id",
            "number",
            "status",
            "match",
            "parameters",
            "steps",
            "needs_approval",
            "safe_for_auto",
            "allowed_environments",
            "allow_self_approval",
            "resolve_on_success",
            "created_at",
            "published_at",
        ]
        read_only_fields = fields


class ApproversSerializer(serializers.Serializer):
    """Who approves a runbook's executions: every user of ``roles`` (admin, agent), the leads
    of ``team_leads`` (runbook_team, ticket_team, item_team), and ``users`` (emails)."""

    roles = serializers.ListField(child=serializers.CharField(max_length=10), required=False)
    team_leads = serializers.ListField(child=serializers.CharField(max_length=12), required=False)
    users = serializers.ListField(child=serializers.EmailField(), required=False)


class RunbookSerializer(serializers.ModelSerializer):
    owner_team = serializers.SlugRelatedField(slug_field="name", read_only=True)
    approvers = serializers.SerializerMethodField()
    published = serializers.SerializerMethodField()
    draft = serializers.SerializerMethodField()

    class Meta:
        model = Runbook
        fields = [
            "id",
            "name",
            "description",
            "owner_team",
            "active",
            "approvers",
            "created_at",
            "published",
            "draft",
        ]
        read_only_fields = fields

    @extend_schema_field(ApproversSerializer)
    def get_approvers(self, runbook: Runbook) -> dict[str, Any]:
        return {
            "roles": list(runbook.approver_roles),
            "team_leads": list(runbook.approver_leads),
            "users": sorted(user.email for user in runbook.approver_users.all()),
        }

    def _version(self, runbook: Runbook, status: str) -> dict[str, Any] | None:
        versions = sorted(
            (version for version in runbook.versions.all() if version.status == status),
            key=lambda version: -version.number,
        )
        return VersionSerializer(versions[0]).data if versions else None

    @extend_schema_field(VersionSerializer(allow_null=True))
    def get_published(self, runbook: Runbook) -> dict[str, Any] | None:
        return self._version(runbook, "published")

    @extend_schema_field(VersionSerializer(allow_null=True))
    def get_draft(self, runbook: Runbook) -> dict[str, Any] | None:
        return self._version(runbook, "draft")


class VersionInputSerializer(serializers.Serializer):
    match = serializers.JSONField(required=False)
    parameters = serializers.JSONField(required=False)
    steps = serializers.JSONField(required=False)
    needs_approval = serializers.BooleanField(required=False)
    safe_for_auto = serializers.BooleanField(required=False)
    allowed_environments = serializers.ListField(child=serializers.CharField(max_length=10), required=False)
    allow_self_approval = serializers.BooleanField(required=False)
    resolve_on_success = serializers.BooleanField(required=False)


class RunbookUpdateSerializer(VersionInputSerializer):
    """A PATCH: the draft's fields, and/or who approves (``approvers``, the runbook's own)."""

    approvers = ApproversSerializer(required=False)


class RunbookCreateSerializer(RunbookUpdateSerializer):
    name = serializers.CharField(max_length=150)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    owner_team = serializers.CharField(required=False, allow_blank=True, max_length=120)


class StepSerializer(serializers.ModelSerializer):
    number = serializers.IntegerField(read_only=True)
    connection = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = ExecutionStep
        fields = [
            "number",
            "name",
            "type",
            "connection",
            "status",
            "rendered",
            "started_at",
            "finished_at",
            "exit_code",
            "http_status",
            "output",
            "error",
            "rollback_status",
            "rollback_rendered",
            "rollback_started_at",
            "rollback_finished_at",
            "rollback_exit_code",
            "rollback_http_status",
            "rollback_output",
            "rollback_error",
        ]
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer):
    runbook = serializers.SerializerMethodField()
    ticket = serializers.SerializerMethodField()
    item = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requester_label", read_only=True)
    steps = StepSerializer(source="step_runs", many=True, read_only=True)
    approval = serializers.SerializerMethodField()

    class Meta:
        model = RunbookExecution
        fields = [
            "id",
            "runbook",
            "ticket",
            "item",
            "status",
            "parameters",
            "confidence",
            "mode",
            "requested_by",
            "cancel_requested_at",
            "summary",
            "trace_id",
            "created_at",
            "started_at",
            "finished_at",
            "approval",
            "steps",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_runbook(self, execution: RunbookExecution) -> dict[str, Any]:
        return {
            "id": execution.runbook_id,
            "name": execution.runbook.name,
            "version": execution.version.number,
        }

    @extend_schema_field(serializers.DictField())
    def get_ticket(self, execution: RunbookExecution) -> dict[str, Any]:
        return {"id": execution.ticket_id, "number": execution.ticket.number}

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_item(self, execution: RunbookExecution) -> dict[str, Any] | None:
        if not execution.item_id:
            return None
        return {
            "id": execution.item_id,
            "name": execution.item.name,
            "environment": execution.item.environment,
        }

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_approval(self, execution: RunbookExecution) -> dict[str, Any] | None:
        approval = getattr(execution, "approval", None)
        if approval is None:
            return None
        return {"id": approval.pk, "status": approval.status, "expires_at": approval.expires_at}


class MatchSerializer(serializers.Serializer):
    runbook = serializers.DictField()
    confidence = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())
    item = serializers.DictField(allow_null=True)
    allowed = serializers.BooleanField()
    blocked = serializers.CharField()
    parameters = serializers.ListField(child=serializers.DictField())


class ExecuteInputSerializer(serializers.Serializer):
    parameters = serializers.JSONField(required=False, default=dict)
    item = serializers.IntegerField(required=False, min_value=1)


class ExecutionDecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ConfirmInputSerializer(serializers.Serializer):
    done = serializers.BooleanField(default=True)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SettingsSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=ExecutionMode.choices)
    threshold = serializers.FloatField(min_value=0.0, max_value=1.0)
