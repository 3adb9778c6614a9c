from rest_framework import serializers

from problems.models import Problem, ProblemStatus


class ProblemSerializer(serializers.ModelSerializer):
    incidents = serializers.SerializerMethodField()
    recurrence_count = serializers.SerializerMethodField()
    category = serializers.CharField(source="category.name", default=None, read_only=True, allow_null=True)
    team = serializers.CharField(source="team.name", default=None, read_only=True, allow_null=True)
    owner = serializers.EmailField(source="owner.email", default=None, read_only=True, allow_null=True)

    class Meta:
        model = Problem
        fields = [
            "id",
            "number",
            "title",
            "description",
            "status",
            "category",
            "team",
            "owner",
            "root_cause",
            "workaround",
            "fix",
            "detected",
            "recurrence_count",
            "incidents",
            "created_at",
            "updated_at",
            "resolved_at",
        ]
        read_only_fields = fields

    def get_incidents(self, problem: Problem) -> list[str]:
        """The linked incidents the caller may see (``Problem.objects.with_incidents_for``)."""
        return [link.ticket.number for link in problem.visible_links]

    def get_recurrence_count(self, problem: Problem) -> int:
        """Every linked incident, those the caller may not see included (a count names nothing)."""
        return problem.linked_count


class ProblemCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    incidents = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class ProblemUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ProblemStatus.choices, required=False)
    root_cause = serializers.CharField(required=False, allow_blank=True)
    workaround = serializers.CharField(required=False, allow_blank=True)
    fix = serializers.CharField(required=False, allow_blank=True)


class LinkSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Ticket number (INC-000042) or id.")


class DetectSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False)


class ProblemRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    allowed = serializers.ListField(child=serializers.CharField(), help_text="The statuses it may move to.")


class ClusterSerializer(serializers.Serializer):
    signature = serializers.CharField()
    title = serializers.CharField()
    tickets = serializers.ListField(child=serializers.CharField(), help_text="Incident numbers.")
    size = serializers.IntegerField()
    score = serializers.FloatField()
    problem = serializers.CharField(allow_null=True, help_text="The problem opened (null on a dry run).")


class DetectResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    clusters = ClusterSerializer(many=True)
