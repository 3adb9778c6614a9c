from django.db.models import Q
from rest_framework import serializers

from cmdb.models import ConfigurationItem
from itsm.models import Team, User
from problems.models import Problem, ProblemNote, ProblemStatus, RecurrenceCandidate
from tickets.models import Category
from tickets.models.priority import Priority


class ProblemSerializer(serializers.ModelSerializer):
    incidents = serializers.SerializerMethodField()
    recurrence_count = serializers.SerializerMethodField()
    category = serializers.CharField(source="category.name", default=None, read_only=True, allow_null=True)
    team = serializers.CharField(source="team.name", default=None, read_only=True, allow_null=True)
    owner = serializers.EmailField(source="owner.email", default=None, read_only=True, allow_null=True)
    duplicate_of = serializers.CharField(
        source="duplicate_of.number", default=None, read_only=True, allow_null=True
    )
    affected_items = serializers.SerializerMethodField()

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
            "priority",
            "affected_items",
            "duplicate_of",
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

    def get_affected_items(self, problem: Problem) -> list[str]:
        return [item.name for item in problem.affected_items.all()]

    def get_recurrence_count(self, problem: Problem) -> int:
        """Every linked incident, those the caller may not see included (a count names nothing)."""
        return problem.linked_count


class ProblemCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    incidents = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class ProblemUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=ProblemStatus.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    owner = serializers.SlugRelatedField(
        slug_field="email",
        queryset=User.objects.active().staff_roles(),
        required=False,
        allow_null=True,
        help_text="An agent's email, or null.",
    )
    team = serializers.SlugRelatedField(
        slug_field="name", queryset=Team.objects.all(), required=False, allow_null=True
    )
    category = serializers.SlugRelatedField(
        slug_field="name", queryset=Category.objects.all(), required=False, allow_null=True
    )
    affected_items = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=50,
        help_text="Configuration item names (the whole list).",
    )
    root_cause = serializers.CharField(required=False, allow_blank=True)
    workaround = serializers.CharField(required=False, allow_blank=True)
    fix = serializers.CharField(required=False, allow_blank=True)

    def validate_affected_items(self, names: list[str]) -> list[ConfigurationItem]:
        lookup = Q(pk__in=[])
        for name in names:
            lookup |= Q(name__iexact=name.strip())
        found = {item.name.lower(): item for item in ConfigurationItem.objects.filter(lookup)}
        missing = [name for name in names if name.strip().lower() not in found]
        if missing:
            raise serializers.ValidationError(f"No configuration item named {', '.join(missing)}.")
        return list(found.values())


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.EmailField(source="author.email", default=None, read_only=True, allow_null=True)

    class Meta:
        model = ProblemNote
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["id", "author", "created_at"]
        extra_kwargs = {"body": {"max_length": 10000}}


class ProblemMergeSerializer(serializers.Serializer):
    into = serializers.CharField(max_length=20, help_text="The problem kept (PRB-000003).")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class CandidateSerializer(serializers.ModelSerializer):
    incidents = serializers.SerializerMethodField()
    problem = serializers.CharField(source="problem.number", default=None, read_only=True, allow_null=True)
    decided_by = serializers.EmailField(
        source="decided_by.email", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = RecurrenceCandidate
        fields = [
            "id",
            "title",
            "state",
            "size",
            "score",
            "incidents",
            "problem",
            "dismissed_reason",
            "decided_by",
            "decided_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_incidents(self, candidate: RecurrenceCandidate) -> list[str]:
        """The incidents the caller may see (a count, ``size``, names none)."""
        return [ticket.number for ticket in candidate.visible_tickets]


class DismissSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


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


class JoinSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    problem = serializers.CharField()
    score = serializers.FloatField()


class DetectResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    joined = JoinSerializer(many=True, help_text="Incidents that joined an open problem.")
    clusters = ClusterSerializer(many=True)


class FactorSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=["category", "service", "item", "hour", "word"])
    value = serializers.CharField()
    share = serializers.FloatField(help_text="Of the linked incidents the caller may see.")
    count = serializers.IntegerField()


class PastProblemSerializer(serializers.Serializer):
    number = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    root_cause = serializers.CharField(allow_blank=True)
    fix = serializers.CharField(allow_blank=True)
    workaround = serializers.CharField(allow_blank=True)
    similarity = serializers.FloatField()


class ProblemCitationSerializer(serializers.Serializer):
    number = serializers.CharField(help_text="INC-… or PRB-…, as cited in the analysis: [INC-000042].")
    kind = serializers.ChoiceField(choices=["incident", "problem"])
    title = serializers.CharField(allow_blank=True)
    url = serializers.CharField()


class SuggestionsSerializer(serializers.Serializer):
    incidents = serializers.IntegerField()
    factors = FactorSerializer(many=True)
    similar_problems = PastProblemSerializer(many=True)
    source = serializers.ChoiceField(
        choices=["local", "llm"], help_text="llm when a language model wrote the analysis."
    )
    label = serializers.CharField()
    analysis = serializers.CharField(allow_blank=True, help_text="The LLM's analysis (empty when local).")
    citations = ProblemCitationSerializer(many=True)
    model = serializers.CharField(allow_blank=True)
