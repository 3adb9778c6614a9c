"""Customer satisfaction: one survey per resolved ticket, answered 1–5 with a comment."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A changed mind within this time after the first answer updates it; later the answer stands.
CHANGE_WINDOW = timedelta(days=7)
# The signed link works this long after the survey is sent.
LINK_MAX_AGE = timedelta(days=30)


class DeskSettings(models.Model):
    """The desk's policy for surveys and auto-close: one row (``DeskSettings.load()``), edited
    in the admin."""

    survey_enabled = models.BooleanField(_("send satisfaction surveys"), default=True)
    survey_sample_percent = models.PositiveSmallIntegerField(
        _("share of resolved tickets surveyed (%)"),
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    notify_lead_at_or_below = models.PositiveSmallIntegerField(
        _("tell the team lead of scores at or below"),
        default=2,
        validators=[MaxValueValidator(5)],
        help_text=_("0: never."),
    )
    reopen_at_or_below = models.PositiveSmallIntegerField(
        _("reopen the ticket on scores at or below"),
        default=0,
        validators=[MaxValueValidator(5)],
        help_text=_("0: never."),
    )

    auto_close_days = models.PositiveSmallIntegerField(
        _("close resolved tickets after (days)"),
        default=7,
        validators=[MaxValueValidator(365)],
        help_text=_(
            "Resolved tickets close on their own after this many days, unless the requester replies. 0: never."
        ),
    )

    class Meta:
        verbose_name = _("desk settings")
        verbose_name_plural = _("desk settings")

    def __str__(self) -> str:
        return str(_("Desk settings"))

    @classmethod
    def load(cls) -> DeskSettings:
        row, _created = cls.objects.get_or_create(pk=1)
        return row


class SurveyQuerySet(models.QuerySet):
    def answered(self) -> SurveyQuerySet:
        return self.filter(score__isnull=False)


class SatisfactionSurvey(models.Model):
    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="survey")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)
    score = models.PositiveSmallIntegerField(
        _("score"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(_("comment"), blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    objects = SurveyQuerySet.as_manager()

    class Meta:
        verbose_name = _("satisfaction survey")
        indexes = [
            models.Index(fields=["sent_at"], name="survey_sent_idx"),
            models.Index(
                fields=["answered_at"], name="survey_answered_idx", condition=Q(score__isnull=False)
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=1, score__lte=5), name="survey_score_range"
            )
        ]

    def __str__(self) -> str:
        return f"Survey of {self.ticket_id}: {self.score or '-'}"

    @property
    def is_answered(self) -> bool:
        return self.score is not None

    def can_change_answer(self, now: object = None) -> bool:
        """Unanswered, or answered less than ``CHANGE_WINDOW`` ago."""
        now = now or timezone.now()
        return self.answered_at is None or now - self.answered_at < CHANGE_WINDOW  # type: ignore[operator]
