"""Input and output shapes of the copilot API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ai.copilot.actions import MAX_QUESTION_CHARS
from ai.copilot.models import CopilotRun, Recommendation


class AskSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=MAX_QUESTION_CHARS, trim_whitespace=True)
    ticket = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    planner = serializers.ChoiceField(choices=["local", "llm"], required=False)


class ReplaySerializer(serializers.Serializer):
    planner = serializers.ChoiceField(choices=["local", "llm"], required=False, allow_null=True)


class CitationSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    label = serializers.CharField()


class StepSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    tool = serializers.CharField()
    arguments = serializers.JSONField()
    result_ids = serializers.JSONField()
    digest = serializers.CharField()
    error = serializers.CharField()
    latency_ms = serializers.IntegerField()
    tokens = serializers.IntegerField(allow_null=True)


class ProposalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    arguments = serializers.JSONField()
    label = serializers.CharField()
    decision = serializers.CharField(allow_null=True)


class RunSerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="pk")
    user = serializers.CharField(source="user.email")
    ticket = serializers.IntegerField(source="ticket_id", allow_null=True)
    replay_of = serializers.IntegerField(source="replay_of_id", allow_null=True)
    steps = serializers.SerializerMethodField()
    proposals = serializers.SerializerMethodField()

    class Meta:
        model = CopilotRun
        fields = [
            "run",
            "user",
            "source",
            "ticket",
            "question",
            "planner",
            "model",
            "intent",
            "status",
            "answer",
            "citations",
            "steps",
            "proposals",
            "note",
            "latency_ms",
            "replay_of",
            "diff",
            "created_at",
        ]

    def get_steps(self, run: CopilotRun) -> list[dict[str, Any]]:
        return StepSerializer(run.steps.all(), many=True).data

    def get_proposals(self, run: CopilotRun) -> list[dict[str, Any]]:
        return [
            {
                "id": proposal.pk,
                "action": proposal.action,
                "arguments": proposal.arguments,
                "label": proposal.label,
                "decision": getattr(getattr(proposal, "decision", None), "outcome", None),
            }
            for proposal in run.proposals.all()
        ]


class RunListSerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="pk")
    user = serializers.CharField(source="user.email")

    class Meta:
        model = CopilotRun
        fields = [
            "run",
            "user",
            "source",
            "question",
            "planner",
            "intent",
            "status",
            "latency_ms",
            "created_at",
        ]


class ProposalDecisionSerializer(serializers.Serializer):
    proposal = serializers.IntegerField()
    outcome = serializers.CharField()


class RecommendationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Recommendation
        fields = ["id", "kind", "title", "evidence", "action_url", "action_label", "status", "created_at"]


class QuickFixDecisionSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["inserted", "linked", "dismissed"])
