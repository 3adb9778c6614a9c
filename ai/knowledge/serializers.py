"""Input and output shapes of the knowledge API. Serializers validate; actions write."""

from __future__ import annotations

from rest_framework import serializers

from ai.knowledge.models import ArticleStatus, Audience, KnowledgeArticle, SourceType
from ai.knowledge.search import MAX_K, MAX_QUERY_CHARS
from tickets.models import Category


class SearchInputSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=MAX_QUERY_CHARS, trim_whitespace=True)
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=10)
    sources = serializers.ListField(
        child=serializers.ChoiceField(choices=SourceType.choices),
        required=False,
        allow_empty=False,
        help_text="Any of article, ticket, jira_issue (default: all).",
    )


class SearchHitSerializer(serializers.Serializer):
    source_type = serializers.CharField()
    source_id = serializers.IntegerField()
    title = serializers.CharField()
    snippet = serializers.CharField()
    position = serializers.IntegerField(help_text="Which passage of the source matched best.")
    score = serializers.FloatField(help_text="Reciprocal rank fusion score (higher is better).")
    similarity = serializers.FloatField(allow_null=True, help_text="Cosine similarity of the passage, -1..1.")
    text_rank = serializers.FloatField(
        allow_null=True, help_text="PostgreSQL full-text rank, when words matched."
    )
    url = serializers.CharField(
        allow_null=True, help_text="The item's page here, or for a Jira issue JIRA_BASE_URL/browse/KEY."
    )
    key = serializers.CharField(
        help_text="Jira issue key (Jira issues, and tickets linked to one); empty otherwise."
    )
    status = serializers.CharField(help_text="The Jira issue's status, when there is a Jira issue.")
    resolution = serializers.CharField(help_text="The Jira issue's resolution (empty while unresolved).")
    linked_ticket_id = serializers.IntegerField(
        allow_null=True, help_text="A Jira issue found together with the local ticket it is linked to."
    )


class SearchOutputSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["hybrid", "text"])
    results = SearchHitSerializer(many=True)


class ArticleSerializer(serializers.ModelSerializer):
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), allow_null=True, required=False
    )
    status = serializers.ChoiceField(choices=ArticleStatus.choices, default=ArticleStatus.DRAFT)
    audience = serializers.ChoiceField(choices=Audience.choices, default=Audience.INTERNAL)
    author = serializers.EmailField(source="author.email", read_only=True, allow_null=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = KnowledgeArticle
        fields = [
            "id",
            "title",
            "body",
            "status",
            "audience",
            "category",
            "author",
            "helpful_votes",
            "not_helpful_votes",
            "created_at",
            "updated_at",
            "published_at",
            "url",
        ]
        read_only_fields = ["helpful_votes", "not_helpful_votes", "created_at", "updated_at", "published_at"]


class VoteInputSerializer(serializers.Serializer):
    helpful = serializers.BooleanField()


class CitationSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    source_type = serializers.CharField()
    source_id = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    internal = serializers.BooleanField()


class DraftSerializer(serializers.Serializer):
    text = serializers.CharField()
    grounded = serializers.BooleanField()
    mode = serializers.ChoiceField(choices=["llm", "extractive", "none"])
    note = serializers.CharField(allow_blank=True)
    citations = CitationSerializer(many=True)
