"""API shapes of tickets: output serializers, and input serializers that only validate.

Input serializers never write: the views hand their validated data to ``tickets.actions``.
Users are referenced by email, teams and categories by name (or id), tickets by number (or id).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from itsm.models import Team, User
from tickets.actions import BULK_MAX_TICKETS, BulkAction
from tickets.models import (
    Category,
    Comment,
    ExportFormat,
    ExportJob,
    Impact,
    Macro,
    MacroVisibility,
    Priority,
    RelationKind,
    Ticket,
    TicketRelation,
    TicketStatus,
    TicketType,
    Urgency,
    WorkLog,
)
from tickets.validation import (
    COMMENT_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    validate_metadata,
    validate_tag,
)


# --- references ------------------------------------------------------------------------------
def user_by_email(email: str, field: str) -> User:
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        raise serializers.ValidationError({field: [f"No active user with email {email!r}."]})
    return user


def team_by_reference(reference: Any, field: str = "team") -> Team:
    text = str(reference).strip()
    lookup = Q(name__iexact=text)
    if text.isdigit():
        lookup |= Q(pk=int(text))
    team = Team.objects.filter(lookup).first()
    if team is None:
        raise serializers.ValidationError({field: [f"No team {text!r} (give its name or id)."]})
    return team


def category_by_reference(reference: Any, field: str = "category") -> Category:
    text = str(reference).strip()
    lookup = Q(name__iexact=text)
    if text.isdigit():
        lookup |= Q(pk=int(text))
    category = Category.objects.filter(lookup, active=True).first()
    if category is None:
        raise serializers.ValidationError({field: [f"No active category {text!r} (give its name or id)."]})
    return category


def ticket_by_reference(user: User, reference: Any, field: str = "target") -> Ticket:
    text = str(reference).strip()
    lookup = Q(number=text.upper())
    if text.isdigit():
        lookup |= Q(pk=int(text))
    ticket = Ticket.objects.visible_to(user).filter(lookup).first()
    if ticket is None:
        raise serializers.ValidationError({field: [f"No ticket {text!r} (give its number or id)."]})
    return ticket


# --- shared fields ----------------------------------------------------------------------------
@extend_schema_field(
    {
        "oneOf": [{"type": "array", "items": {"type": "string", "maxLength": 50}}, {"type": "string"}],
        "description": "A list of tags, or one comma-separated string.",
    }
)
class TagsField(serializers.Field):
    """A list of tags, or one comma-separated string."""

    default_error_messages = {"invalid": "Give a list of tags or a comma-separated string."}

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str):
            data = data.split(",")
        if not isinstance(data, list) or not all(isinstance(tag, str) for tag in data):
            self.fail("invalid")
        for tag in data:
            validate_tag(tag)
        return [tag.strip().lower() for tag in data if tag.strip()]

    def to_representation(self, value: list[str]) -> list[str]:
        return list(value)


class StrictInputSerializer(serializers.Serializer):
    """Refuses keys it does not know instead of ignoring them (a typo must not pass silently)."""

    read_only_hints: dict[str, str] = {}

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            unknown = [key for key in data if key not in self.fields]
            if unknown:
                raise serializers.ValidationError(
                    {key: [self.read_only_hints.get(key, "Unknown field.")] for key in unknown}
                )
        return super().to_internal_value(data)


# --- tickets ------------------------------------------------------------------------------------
class TicketSerializer(serializers.ModelSerializer):
    requester = serializers.EmailField(source="requester.email", read_only=True)
    assignee = serializers.EmailField(source="assignee.email", read_only=True, allow_null=True)
    team = serializers.CharField(source="team.name", read_only=True, allow_null=True)
    category = serializers.CharField(source="category.name", read_only=True, allow_null=True)
    organisation = serializers.CharField(source="organisation.name", read_only=True, allow_null=True)
    jira_key = serializers.SerializerMethodField()
    allowed_transitions = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "number",
            "type",
            "title",
            "description",
            "status",
            "allowed_transitions",
            "impact",
            "urgency",
            "priority",
            "priority_overridden",
            "priority_reason",
            "category",
            "service",
            "channel",
            "requester",
            "organisation",
            "assignee",
            "team",
            "tags",
            "linked_entity_type",
            "linked_entity_id",
            "sensitive",
            "archived",
            "resolution",
            "metadata",
            "jira_key",
            "version",
            "reopen_count",
            "created_at",
            "updated_at",
            "first_response_at",
            "resolved_at",
            "closed_at",
        ]
        read_only_fields = fields

    def get_jira_key(self, ticket: Ticket) -> str | None:
        return ticket.external_key or None

    def get_allowed_transitions(self, ticket: Ticket) -> list[str]:
        return ticket.offered_transitions()

    def to_representation(self, ticket: Ticket) -> dict[str, Any]:
        # Written out rather than walked field by field: a page of 25 tickets renders several
        # times faster this way. The declared fields above still document the shape (OpenAPI);
        # a test checks both give the same keys.
        def stamp(value: Any) -> str | None:
            return serializers.DateTimeField().to_representation(value) if value else None

        return {
            "id": ticket.pk,
            "number": ticket.number,
            "type": ticket.type,
            "title": ticket.title,
            "description": ticket.description,
            "status": ticket.status,
            "allowed_transitions": ticket.offered_transitions(),
            "impact": ticket.impact,
            "urgency": ticket.urgency,
            "priority": ticket.priority,
            "priority_overridden": ticket.priority_overridden,
            "priority_reason": ticket.priority_reason,
            "category": ticket.category.name if ticket.category_id else None,
            "service": ticket.service,
            "channel": ticket.channel,
            "requester": ticket.requester.email,
            "organisation": ticket.organisation.name if ticket.organisation_id else None,
            "assignee": ticket.assignee.email if ticket.assignee_id else None,
            "team": ticket.team.name if ticket.team_id else None,
            "tags": list(ticket.tags),
            "linked_entity_type": ticket.linked_entity_type,
            "linked_entity_id": ticket.linked_entity_id,
            "sensitive": ticket.sensitive,
            "archived": ticket.archived,
            "resolution": ticket.resolution,
            "metadata": ticket.metadata,
            "jira_key": ticket.external_key or None,
            "version": ticket.version,
            "reopen_count": ticket.reopen_count,
            "created_at": stamp(ticket.created_at),
            "updated_at": stamp(ticket.updated_at),
            "first_response_at": stamp(ticket.first_response_at),
            "resolved_at": stamp(ticket.resolved_at),
            "closed_at": stamp(ticket.closed_at),
        }


AGENT_ONLY_CREATE = ("requester", "assignee", "team", "priority", "priority_reason", "sensitive")


class TicketCreateSerializer(StrictInputSerializer):
    title = serializers.CharField(max_length=255)
    description = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=DESCRIPTION_MAX_LENGTH
    )
    type = serializers.ChoiceField(choices=TicketType.choices, default=TicketType.INCIDENT)
    impact = serializers.ChoiceField(choices=Impact.choices, default=Impact.MEDIUM)
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.MEDIUM)
    category = serializers.CharField(required=False, allow_null=True, help_text="Name or id.")
    service = serializers.CharField(required=False, allow_blank=True, default="", max_length=120)
    tags = TagsField(required=False, default=list)
    linked_entity_type = serializers.CharField(required=False, allow_blank=True, default="", max_length=60)
    linked_entity_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=120)
    metadata = serializers.DictField(required=False, default=dict, validators=[validate_metadata])
    # Agents only:
    requester = serializers.EmailField(required=False, help_text="Agents: the requester's email.")
    assignee = serializers.EmailField(required=False, allow_null=True, help_text="Agents: an agent's email.")
    team = serializers.CharField(required=False, allow_null=True, help_text="Agents: team name or id.")
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, help_text="Agents: overrides the impact × urgency matrix."
    )
    priority_reason = serializers.CharField(required=False, allow_blank=True, max_length=500)
    sensitive = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = self.context["request"].user
        if not user.is_agent:
            refused = [name for name in AGENT_ONLY_CREATE if name in self.initial_data]
            if refused:
                raise serializers.ValidationError({name: ["Only agents may set this."] for name in refused})
        if attrs.get("category") is not None:
            attrs["category"] = category_by_reference(attrs["category"])
        if attrs.get("requester"):
            attrs["requester"] = user_by_email(attrs["requester"], "requester")
        if attrs.get("assignee"):
            attrs["assignee"] = user_by_email(attrs["assignee"], "assignee")
        if attrs.get("team") is not None:
            attrs["team"] = team_by_reference(attrs["team"])
        # An assignee who is not an agent, a priority without its reason: refused by the action.
        return attrs


TICKET_READ_ONLY_HINTS = {
    "status": "Change the status with POST /api/tickets/{id}/transition/.",
    **{
        name: "This field cannot be changed."
        for name in (
            "id",
            "number",
            "requester",
            "organisation",
            "channel",
            "created_at",
            "updated_at",
            "first_response_at",
            "resolved_at",
            "closed_at",
            "reopen_count",
            "archived",
            "resolution",
            "jira_key",
            "allowed_transitions",
            "priority_overridden",
        )
    },
}


class TicketUpdateSerializer(StrictInputSerializer):
    read_only_hints = TICKET_READ_ONLY_HINTS

    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you edited: a newer one is refused with 409."
    )
    title = serializers.CharField(required=False, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    type = serializers.ChoiceField(choices=TicketType.choices, required=False)
    impact = serializers.ChoiceField(choices=Impact.choices, required=False)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    category = serializers.CharField(required=False, allow_null=True, help_text="Name or id; null clears it.")
    service = serializers.CharField(required=False, allow_blank=True, max_length=120)
    tags = TagsField(required=False)
    sensitive = serializers.BooleanField(required=False)
    linked_entity_type = serializers.CharField(required=False, allow_blank=True, max_length=60)
    linked_entity_id = serializers.CharField(required=False, allow_blank=True, max_length=120)
    metadata = serializers.DictField(required=False, validators=[validate_metadata])
    assignee = serializers.EmailField(
        required=False, allow_null=True, help_text="An agent's email; null unassigns."
    )
    team = serializers.CharField(required=False, help_text="Team name or id.")
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    priority_reason = serializers.CharField(required=False, allow_blank=True, max_length=500)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not set(attrs) - {"version"}:
            raise serializers.ValidationError({"detail": ["Nothing to change."]})
        if "title" in attrs and not attrs["title"].strip():
            raise serializers.ValidationError({"title": ["A title is required."]})
        if "category" in attrs and attrs["category"] is not None:
            attrs["category"] = category_by_reference(attrs["category"])
        if attrs.get("assignee"):
            attrs["assignee"] = user_by_email(attrs["assignee"], "assignee")
        if "team" in attrs:
            attrs["team"] = team_by_reference(attrs["team"])
        # The edit's own rules (an agent as assignee, a reason with a priority…) are the action's.
        return attrs


class TransitionSerializer(StrictInputSerializer):
    to = serializers.ChoiceField(choices=TicketStatus.choices)
    resolution = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=20_000, help_text="Required when resolving."
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    version = serializers.IntegerField(required=False, min_value=1)


class TransitionRefusedSerializer(serializers.Serializer):
    """A 409: an illegal move (``current``, ``allowed``) or a stale version (``version``)."""

    detail = serializers.CharField()
    current = serializers.CharField(required=False, help_text="Illegal move: the status now.")
    allowed = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Illegal move: the statuses allowed."
    )
    version = serializers.IntegerField(required=False, help_text="Stale version: the ticket's version now.")


class AssignSerializer(StrictInputSerializer):
    assignee = serializers.EmailField(
        required=False, allow_null=True, help_text="An agent's email; null unassigns."
    )
    team = serializers.CharField(required=False, help_text="Team name or id.")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    version = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "assignee" not in attrs and "team" not in attrs:
            raise serializers.ValidationError({"assignee": ["Give an assignee (or null), a team, or both."]})
        if attrs.get("assignee"):
            attrs["assignee"] = user_by_email(attrs["assignee"], "assignee")
        if "team" in attrs:
            attrs["team"] = team_by_reference(attrs["team"])
        return attrs


class PrioritySerializer(StrictInputSerializer):
    priority = serializers.ChoiceField(choices=Priority.choices)
    reason = serializers.CharField(
        max_length=500, help_text="Why the matrix priority is overridden (audited)."
    )
    version = serializers.IntegerField(required=False, min_value=1)


# --- conversation ---------------------------------------------------------------------------------
class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Comment
        fields = [
            "id",
            "author",
            "body",
            "internal",
            "source",
            "created_at",
            "updated_at",
            "edited",
            "attachments",
        ]
        read_only_fields = fields

    edited = serializers.SerializerMethodField(help_text="The text was changed after it was written.")

    def get_edited(self, comment: Comment) -> bool:
        return comment.updated_at > comment.created_at

    def get_author(self, comment: Comment) -> str:
        return comment.author.email if comment.author_id else (comment.author_label or "system")


class CommentCreateSerializer(StrictInputSerializer):
    body = serializers.CharField(max_length=COMMENT_MAX_LENGTH)
    internal = serializers.BooleanField(
        required=False, default=False, help_text="An internal note (agents only)."
    )
    attachments = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text="Files, with a multipart request.",
    )


class CommentEditSerializer(StrictInputSerializer):
    body = serializers.CharField(
        max_length=COMMENT_MAX_LENGTH, help_text="The new text (your own comments only)."
    )


class AuditEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    event = serializers.CharField()
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)
    actor = serializers.CharField(help_text="An email, a system label such as system:jira, or empty.")
    reason = serializers.CharField()


# --- relations --------------------------------------------------------------------------------------
class TicketRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()


class RelationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    direction = serializers.ChoiceField(
        choices=["outgoing", "incoming"],
        help_text="outgoing: this ticket <kind> other; incoming: other <kind> this.",
    )
    ticket = TicketRefSerializer()
    created_at = serializers.DateTimeField()

    @staticmethod
    def shape(relation: TicketRelation, *, outgoing: bool) -> dict[str, Any]:
        other = relation.target if outgoing else relation.source
        return {
            "id": relation.pk,
            "kind": relation.kind,
            "direction": "outgoing" if outgoing else "incoming",
            "ticket": {"id": other.pk, "number": other.number, "title": other.title, "status": other.status},
            "created_at": relation.created_at,
        }


class RelationCreateSerializer(StrictInputSerializer):
    target = serializers.CharField(help_text="The other ticket's number (INC-000042) or id.")
    kind = serializers.ChoiceField(choices=RelationKind.choices)
    close_duplicate = serializers.BooleanField(
        required=False,
        default=False,
        help_text="With duplicate_of: resolve and close this ticket with a link.",
    )


# --- bulk, stats ---------------------------------------------------------------------------------
class BulkSerializer(StrictInputSerializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=BULK_MAX_TICKETS
    )
    action = serializers.ChoiceField(choices=BulkAction.values)
    assignee = serializers.EmailField(
        required=False, allow_null=True, help_text="assign: an agent's email or null."
    )
    team = serializers.CharField(required=False, help_text="assign: team name or id.")
    status = serializers.ChoiceField(
        choices=TicketStatus.choices, required=False, help_text="status: the target."
    )
    resolution = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=20_000,
        help_text="status=resolved and close: the resolution summary.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, help_text="priority: the new one."
    )
    tags = TagsField(required=False, default=list, help_text="tag: tags to add.")
    remove_tags = TagsField(required=False, default=list, help_text="tag: tags to remove.")
    macro = serializers.IntegerField(required=False, min_value=1, help_text="macro: the macro's id.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        action = attrs["action"]
        needs = {BulkAction.STATUS: "status", BulkAction.PRIORITY: "priority", BulkAction.MACRO: "macro"}
        if action in needs and needs[action] not in attrs:
            raise serializers.ValidationError({needs[action]: [f"The {action} action needs it."]})
        if action == BulkAction.ASSIGN and "assignee" not in attrs and "team" not in attrs:
            raise serializers.ValidationError(
                {"assignee": ["The assign action needs an assignee (or null) or a team."]}
            )
        if attrs.get("assignee"):
            attrs["assignee"] = user_by_email(attrs["assignee"], "assignee")
        if "team" in attrs:
            attrs["team"] = team_by_reference(attrs["team"])
        return attrs


class BulkResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    count = serializers.IntegerField()
    tickets = TicketSerializer(many=True)


class CountSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_priority = serializers.DictField(child=serializers.IntegerField())
    by_category = CountSerializer(many=True)
    by_team = CountSerializer(many=True)


# --- exports -----------------------------------------------------------------------------------
class ExportCreateSerializer(StrictInputSerializer):
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.CSV)
    filters = serializers.DictField(
        required=False,
        default=dict,
        help_text='The list filters, as for GET /api/tickets/: {"status": ["open"], "team": "Network"}.',
    )

    def validate_filters(self, value: dict[str, Any]) -> dict[str, list[str]]:
        cleaned: dict[str, list[str]] = {}
        for key, raw in value.items():
            items = raw if isinstance(raw, list) else [raw]
            if not all(isinstance(item, str | int | bool) for item in items):
                raise serializers.ValidationError({key: "Give a text or a list of texts."})
            cleaned[key] = [str(item).lower() if isinstance(item, bool) else str(item) for item in items]
        return cleaned


class ExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "format",
            "status",
            "filters",
            "row_count",
            "error",
            "created_at",
            "finished_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.status != "ready":
            return None
        return f"/api/exports/{job.pk}/download/"


# --- macros --------------------------------------------------------------------------------------
class MacroSerializer(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", read_only=True, allow_null=True)
    team = serializers.CharField(source="team.name", read_only=True, allow_null=True)
    set_assignee = serializers.EmailField(source="set_assignee.email", read_only=True, allow_null=True)
    set_team = serializers.CharField(source="set_team.name", read_only=True, allow_null=True)
    set_status = serializers.CharField(read_only=True, help_text="A status, or empty: left as it is.")
    set_priority = serializers.CharField(read_only=True, help_text="A priority, or empty: left as it is.")

    class Meta:
        model = Macro
        fields = [
            "id",
            "name",
            "body",
            "internal",
            "visibility",
            "owner",
            "team",
            "set_status",
            "resolution",
            "set_priority",
            "priority_reason",
            "assign_to_me",
            "set_assignee",
            "set_team",
            "add_tags",
            "active",
            "usage_count",
            "last_used_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class MacroInputSerializer(StrictInputSerializer):
    """A macro's fields; on PATCH only those given change."""

    read_only_hints = {
        name: "Read-only."
        for name in ("id", "owner", "usage_count", "last_used_at", "created_at", "updated_at")
    }
    name = serializers.CharField(max_length=120)
    body = serializers.CharField(required=False, allow_blank=True, max_length=COMMENT_MAX_LENGTH)
    internal = serializers.BooleanField(required=False)
    visibility = serializers.ChoiceField(choices=MacroVisibility.choices, required=False)
    team = serializers.CharField(required=False, allow_null=True, help_text="team macros: team name or id.")
    set_status = serializers.ChoiceField(choices=TicketStatus.choices, required=False, allow_blank=True)
    resolution = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    set_priority = serializers.ChoiceField(choices=Priority.choices, required=False, allow_blank=True)
    priority_reason = serializers.CharField(required=False, allow_blank=True, max_length=500)
    assign_to_me = serializers.BooleanField(required=False)
    set_assignee = serializers.EmailField(required=False, allow_null=True, help_text="An agent's email.")
    set_team = serializers.CharField(required=False, allow_null=True, help_text="Team name or id.")
    add_tags = TagsField(required=False)
    active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in ("team", "set_team"):
            if attrs.get(name) is not None:
                attrs[name] = team_by_reference(attrs[name], name)
        if attrs.get("set_assignee") is not None:
            attrs["set_assignee"] = user_by_email(attrs["set_assignee"], "set_assignee")
        return attrs


class ApplyMacroSerializer(StrictInputSerializer):
    macro = serializers.IntegerField(min_value=1, help_text="The macro's id.")
    body = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=COMMENT_MAX_LENGTH,
        help_text="The reply as edited after the preview (default: the macro's text, rendered).",
    )
    preview = serializers.BooleanField(
        required=False, default=False, help_text="Only render: nothing changes."
    )


class MacroPreviewSerializer(serializers.Serializer):
    body = serializers.CharField()
    internal = serializers.BooleanField()
    changes = serializers.DictField()


class ApplyMacroResultSerializer(serializers.Serializer):
    ticket = TicketSerializer()
    comment = CommentSerializer(allow_null=True)
    changed = serializers.ListField(child=serializers.CharField())


# --- merge -----------------------------------------------------------------------------------------
class MergeSerializer(StrictInputSerializer):
    sources = serializers.ListField(
        child=serializers.CharField(max_length=40),
        min_length=1,
        max_length=50,
        help_text="The tickets to merge into this one, by number (INC-000042) or id.",
    )
    preview = serializers.BooleanField(
        required=False, default=False, help_text="Only say what would move: nothing changes."
    )


class MergePlanSerializer(serializers.Serializer):
    source = serializers.CharField(source="source.number")
    title = serializers.CharField(source="source.title")
    replies = serializers.IntegerField()
    notes = serializers.IntegerField()
    attachments = serializers.IntegerField()
    watchers = serializers.IntegerField()
    relations = serializers.IntegerField()


class MergeResultSerializer(serializers.Serializer):
    preview = serializers.BooleanField(help_text="True: nothing changed, this is what would move.")
    target = TicketSerializer()
    sources = MergePlanSerializer(many=True, help_text="What moves (moved) from each source.")


# --- time tracking ------------------------------------------------------------------------------------
class WorkLogSerializer(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email", read_only=True)
    comment = serializers.IntegerField(source="comment_id", read_only=True, allow_null=True)

    class Meta:
        model = WorkLog
        fields = ["id", "user", "minutes", "worked_at", "note", "billable", "comment", "created_at"]
        read_only_fields = fields


class WorkLogCreateSerializer(StrictInputSerializer):
    minutes = serializers.IntegerField(min_value=1, max_value=24 * 60)
    worked_at = serializers.DateTimeField(required=False, help_text="When the work was done (default: now).")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    billable = serializers.BooleanField(required=False, default=False)


class WorkLogListSerializer(serializers.Serializer):
    total_minutes = serializers.IntegerField()
    billable_minutes = serializers.IntegerField()
    entries = WorkLogSerializer(many=True)
