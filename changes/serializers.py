from __future__ import annotations

from django.db.models import Q
from rest_framework import serializers

from changes.models import ChangeOutcome, ChangeRequest, ChangeStatus, ChangeType, Level
from cmdb.models import ConfigurationItem
from itsm.models import Team, User
from problems.models import Problem
from tickets.models import Ticket


class ChangeSerializer(serializers.ModelSerializer):
    affected_items = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField()
    incidents = serializers.SerializerMethodField()
    assignee = serializers.EmailField(source="assignee.email", default=None, read_only=True, allow_null=True)
    team = serializers.CharField(source="team.name", default=None, read_only=True, allow_null=True)
    requested_by = serializers.EmailField(
        source="requested_by.email", default=None, read_only=True, allow_null=True
    )
    allowed_transitions = serializers.SerializerMethodField()
    outcome = serializers.CharField(
        read_only=True, help_text="successful, failed or backed_out once closed; empty before."
    )

    class Meta:
        model = ChangeRequest
        fields = [
            "id",
            "number",
            "type",
            "title",
            "description",
            "reason",
            "status",
            "allowed_transitions",
            "likelihood",
            "impact",
            "risk",
            "implementation_plan",
            "backout_plan",
            "test_plan",
            "planned_start",
            "planned_end",
            "affected_items",
            "services",
            "problems",
            "incidents",
            "requested_by",
            "assignee",
            "team",
            "outcome",
            "conflict_override_reason",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields

    def get_affected_items(self, change: ChangeRequest) -> list[str]:
        return [item.name for item in change.affected_items.all()]

    def get_problems(self, change: ChangeRequest) -> list[str]:
        return [problem.number for problem in change.problems.all()]

    def get_incidents(self, change: ChangeRequest) -> list[str]:
        """The incidents the caller may see."""
        return [ticket.number for ticket in change.visible_incidents]

    def get_allowed_transitions(self, change: ChangeRequest) -> list[str]:
        return list(change.allowed_transitions())


def _by_names(model, field: str, names: list[str], queryset=None) -> list:  # type: ignore[no-untyped-def]
    lookup = Q(pk__in=[])
    for name in names:
        lookup |= Q(**{f"{field}__iexact": name.strip()})
    found = {
        getattr(obj, field).lower(): obj
        for obj in (queryset if queryset is not None else model.objects).filter(lookup)
    }
    missing = [name for name in names if name.strip().lower() not in found]
    if missing:
        raise serializers.ValidationError(f"Not found: {', '.join(missing)}.")
    return list(found.values())


class ChangeWriteSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ChangeType.choices, required=False)
    title = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    reason = serializers.CharField(required=False, allow_blank=True)
    likelihood = serializers.ChoiceField(choices=Level.choices, required=False)
    impact = serializers.ChoiceField(choices=Level.choices, required=False)
    implementation_plan = serializers.CharField(required=False, allow_blank=True)
    backout_plan = serializers.CharField(required=False, allow_blank=True)
    test_plan = serializers.CharField(required=False, allow_blank=True)
    planned_start = serializers.DateTimeField(required=False, allow_null=True)
    planned_end = serializers.DateTimeField(required=False, allow_null=True)
    services = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False, max_length=50
    )
    affected_items = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=50, help_text="Item names."
    )
    problems = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, max_length=50, help_text="PRB numbers."
    )
    incidents = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, max_length=50, help_text="Ticket numbers."
    )
    assignee = serializers.SlugRelatedField(
        slug_field="email", queryset=User.objects.active().staff_roles(), required=False, allow_null=True
    )
    team = serializers.SlugRelatedField(
        slug_field="name", queryset=Team.objects.all(), required=False, allow_null=True
    )

    def validate_affected_items(self, names: list[str]) -> list[ConfigurationItem]:
        return _by_names(ConfigurationItem, "name", names)

    def validate_problems(self, numbers: list[str]) -> list[Problem]:
        return _by_names(Problem, "number", numbers)

    def validate_incidents(self, numbers: list[str]) -> list:  # type: ignore[type-arg]
        return _by_names(Ticket, "number", numbers, Ticket.objects.visible_to(self.context["request"].user))


class ChangeCreateSerializer(ChangeWriteSerializer):
    title = serializers.CharField(max_length=255)


class ChangeTransitionSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ChangeStatus.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    outcome = serializers.ChoiceField(
        choices=ChangeOutcome.choices, required=False, default="", help_text="Needed to close."
    )
    resolve_problems = serializers.BooleanField(
        default=False, help_text="On closing: resolve the problems it addressed whose fix is recorded."
    )


class ChangeDecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class RejectSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=4000, help_text="Why (required).")


class AcceptConflictsSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class RefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    allowed = serializers.ListField(child=serializers.CharField(), required=False)


class ConflictSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["overlap", "maintenance_window"])
    key = serializers.CharField()
    message = serializers.CharField()
    change = serializers.CharField(allow_null=True)
    item = serializers.CharField(allow_null=True)
    service = serializers.CharField(allow_null=True)
    accepted = serializers.BooleanField()


class CalendarEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    title = serializers.CharField()
    type = serializers.CharField()
    status = serializers.CharField()
    risk = serializers.CharField()
    planned_start = serializers.DateTimeField()
    planned_end = serializers.DateTimeField()
    affected_items = serializers.ListField(child=serializers.CharField())
    services = serializers.ListField(child=serializers.CharField())
    conflicts = serializers.ListField(
        child=serializers.CharField(), help_text="Unaccepted conflict messages."
    )
