"""Triage: settings and modes per field, trained models with their version, every
prediction (``TriageResult``) and its outcome, and the sentiment of requester messages."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TriageField(models.TextChoices):
    CATEGORY = "category", _("Category")
    IMPACT = "impact", _("Impact")
    URGENCY = "urgency", _("Urgency")
    TEAM = "team", _("Team")
    ASSIGNEE = "assignee", _("Assignee")


# Fields a classifier learns; the assignee is routed (a rule over the predicted team).
LEARNED_FIELDS = (TriageField.CATEGORY, TriageField.IMPACT, TriageField.URGENCY, TriageField.TEAM)


class FieldMode(models.TextChoices):
    SHADOW = "shadow", _("Shadow: record only")
    ASSIST = "assist", _("Assist: suggest, one click to accept")
    AUTO = "auto", _("Auto: apply when confident enough")


class SentimentAction(models.TextChoices):
    NONE = "none", _("Do nothing")
    TAG = "tag", _("Add the attention tag")
    RAISE_PRIORITY = "raise_priority", _("Raise the priority one step")
    TAG_AND_RAISE = "tag_and_raise", _("Add the tag and raise the priority")


class TriageSettings(models.Model):
    """The organisation's triage settings: one row (``TriageSettings.load()``)."""

    min_training_tickets = models.PositiveIntegerField(
        _("minimum resolved tickets to train"),
        default=50,
        validators=[MinValueValidator(3)],
        help_text=_("Below this many resolved tickets with a value, the keyword rules decide that field."),
    )
    target_precision = models.FloatField(
        _("target precision for auto"),
        default=0.95,
        validators=[MinValueValidator(0.5), MaxValueValidator(1.0)],
        help_text=_(
            "Training proposes, per field, the lowest confidence whose held-out precision reaches this."
        ),
    )
    retrain_automatically = models.BooleanField(
        _("retrain every night"),
        default=True,
        help_text=_("The worker retrains at night when tickets were resolved since the last model."),
    )
    sentiment_action = models.CharField(
        _("on very negative sentiment"),
        max_length=20,
        choices=SentimentAction.choices,
        default=SentimentAction.TAG,
    )
    sentiment_threshold = models.FloatField(
        _("very negative below"),
        default=-0.5,
        validators=[MinValueValidator(-1.0), MaxValueValidator(0.0)],
        help_text=_("Sentiment scores run from -1 (very negative) to 1 (very positive)."),
    )
    sentiment_tiers = models.CharField(
        _("customer tiers watched"),
        max_length=100,
        default="enterprise",
        help_text=_(
            "Comma-separated tiers (enterprise, business, standard, free) whose unhappy requesters "
            "raise the ticket for attention."
        ),
    )
    attention_tag = models.CharField(_("attention tag"), max_length=50, default="attention")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("triage settings")
        verbose_name_plural = _("triage settings")

    def __str__(self) -> str:
        return str(_("Triage settings"))

    @classmethod
    def load(cls) -> TriageSettings:
        settings_row, _created = cls.objects.get_or_create(pk=1)
        return settings_row

    def watched_tiers(self) -> set[str]:
        return {tier.strip().lower() for tier in self.sentiment_tiers.split(",") if tier.strip()}


class FieldSetting(models.Model):
    """Mode and auto threshold of one field (created with the defaults on first use)."""

    triage_settings = models.ForeignKey(TriageSettings, on_delete=models.CASCADE, related_name="fields")
    field = models.CharField(_("field"), max_length=20, choices=TriageField.choices, unique=True)
    mode = models.CharField(_("mode"), max_length=10, choices=FieldMode.choices, default=FieldMode.ASSIST)
    threshold = models.FloatField(
        _("auto threshold"),
        default=0.9,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("In auto mode a prediction is applied when its confidence is at least this."),
    )

    class Meta:
        ordering = ["field"]
        verbose_name = _("field mode")

    def __str__(self) -> str:
        return f"{self.get_field_display()}: {self.get_mode_display()}"

    @classmethod
    def for_field(cls, field: str) -> FieldSetting:
        row = cls.objects.filter(field=field).first()
        if row is None:
            row, _created = cls.objects.get_or_create(
                field=field, defaults={"triage_settings": TriageSettings.load()}
            )
        return row

    @classmethod
    def all_fields(cls) -> dict[str, FieldSetting]:
        rows = {row.field: row for row in cls.objects.all()}
        for field in TriageField.values:
            if field not in rows:
                rows[field] = cls.for_field(field)
        return rows


class TriageModelQuerySet(models.QuerySet):
    def active(self) -> TriageModelQuerySet:
        return self.filter(is_active=True)


class TriageModel(models.Model):
    """One training run: the fitted classifiers of every learned field, in one blob."""

    version = models.PositiveIntegerField(unique=True)
    trained_at = models.DateTimeField(default=timezone.now)
    # joblib dump (zlib) of {field: FieldModel}; loaded once per process and version.
    blob = models.BinaryField(editable=False)
    size_bytes = models.PositiveIntegerField(default=0)
    training_rows = models.JSONField(default=dict, help_text=_("Rows per field."))
    metrics = models.JSONField(default=dict, help_text=_("Held-out figures per field."))
    # The newest resolved ticket the run saw: the nightly task retrains only after it.
    last_ticket_resolved_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)
    is_active = models.BooleanField(default=True)

    objects = TriageModelQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        verbose_name = _("triage model")
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="triage_one_active_model"
            )
        ]

    def __str__(self) -> str:
        return f"model v{self.version} ({self.trained_at:%Y-%m-%d %H:%M})"

    @property
    def label(self) -> str:
        return f"model-v{self.version}"


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", _("Suggested")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    APPLIED = "applied", _("Applied automatically")
    RECORDED = "recorded", _("Recorded (shadow)")
    MATCHED = "matched", _("Already the ticket's value")


class TriageResultQuerySet(models.QuerySet):
    def for_field(self, field: str) -> TriageResultQuerySet:
        return self.filter(field=field)

    def evaluated(self) -> TriageResultQuerySet:
        """Compared with the final value of a resolved ticket."""
        return self.filter(correct__isnull=False)

    def applied(self) -> TriageResultQuerySet:
        return self.filter(applied=True)


class TriageResult(models.Model):
    """One prediction for one field of one ticket, and later how it compared with the final value."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="triage_results")
    field = models.CharField(max_length=20, choices=TriageField.choices)
    # The value as stored on the ticket: a category/team/user id, or impact/urgency text.
    predicted_value = models.CharField(max_length=64, blank=True)
    predicted_label = models.CharField(max_length=200, blank=True)
    confidence = models.FloatField()
    reasoning = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    method = models.CharField(max_length=20, help_text=_("model, rules or routing"))
    model_version = models.CharField(max_length=40)
    latency_ms = models.FloatField(default=0)
    mode = models.CharField(max_length=10, choices=FieldMode.choices)
    threshold = models.FloatField(null=True, blank=True)
    # The ticket's value when it was triaged, to tell a correction from an agreement.
    initial_value = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING
    )
    applied = models.BooleanField(default=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    final_value = models.CharField(max_length=64, blank=True)
    correct = models.BooleanField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TriageResultQuerySet.as_manager()

    class Meta:
        ordering = ["ticket_id", "field"]
        verbose_name = _("triage result")
        constraints = [
            # One triage per ticket and field: a redelivered task changes nothing twice.
            models.UniqueConstraint(fields=["ticket", "field"], name="triage_result_ticket_field_unique")
        ]
        indexes = [
            models.Index(fields=["field", "created_at"], name="triage_result_field_idx"),
            # KPIs: a ticket's results as the triage KPIs count them, from the index alone.
            models.Index(
                fields=["ticket"], include=["status", "applied", "correct"], name="triage_result_kpi_idx"
            ),
            models.Index(
                fields=["ticket", "status"], name="triage_result_pending_idx", condition=Q(status="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.field} → {self.predicted_label} ({self.confidence:.2f})"

    @property
    def is_pending(self) -> bool:
        return self.status == SuggestionStatus.PENDING

    @property
    def confidence_percent(self) -> int:
        return round(self.confidence * 100)

    def is_confident(self) -> bool:
        return self.threshold is not None and self.confidence >= self.threshold


class SentimentLabel(models.TextChoices):
    VERY_NEGATIVE = "very_negative", _("Very negative")
    NEGATIVE = "negative", _("Negative")
    NEUTRAL = "neutral", _("Neutral")
    POSITIVE = "positive", _("Positive")


class MessageSentiment(models.Model):
    """The sentiment of one requester message: the ticket's description or a public reply."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sentiments")
    comment = models.OneToOneField(
        "tickets.Comment", null=True, blank=True, on_delete=models.CASCADE, related_name="sentiment"
    )
    score = models.FloatField()
    label = models.CharField(max_length=20, choices=SentimentLabel.choices)
    terms = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=5, default="en")
    raised_attention = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message sentiment")
        constraints = [
            # The description is scored once per ticket (comment empty), each reply once.
            models.UniqueConstraint(
                fields=["ticket"],
                condition=Q(comment__isnull=True),
                name="sentiment_one_description_per_ticket",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.label} ({self.score:+.2f})"
