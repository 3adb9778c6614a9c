"""Time tracking: who worked how long on a ticket, when, and whether it is billable."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# One entry is at most a day of work: a typo (600 for 60) is refused, not booked.
WORKLOG_MAX_MINUTES = 24 * 60


class WorkLogQuerySet(models.QuerySet):
    def between(self, start: object, end: object) -> WorkLogQuerySet:
        return self.filter(worked_at__gte=start, worked_at__lt=end)

    def totals(self) -> dict[str, int]:
        """Minutes in all and billable minutes, in one aggregate."""
        row = self.aggregate(
            total=Sum("minutes", default=0), billable_total=Sum("minutes", filter=Q(billable=True), default=0)
        )
        return {"minutes": row["total"], "billable": row["billable_total"]}


class WorkLog(models.Model):
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="worklogs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="worklogs")
    minutes = models.PositiveIntegerField(_("minutes"))
    # When the work was done (defaults to when it is logged).
    worked_at = models.DateTimeField(_("worked at"), default=timezone.now)
    note = models.CharField(_("note"), max_length=500, blank=True)
    billable = models.BooleanField(_("billable"), default=False)
    # Logged with a reply or a note ("time spent" in the reply box).
    comment = models.OneToOneField(
        "tickets.Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="worklog"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkLogQuerySet.as_manager()

    class Meta:
        ordering = ["worked_at", "id"]
        verbose_name = _("work log entry")
        indexes = [
            models.Index(fields=["ticket", "worked_at"], name="worklog_ticket_idx"),
            # The time report and the KPIs: entries in a range, by person.
            models.Index(
                fields=["worked_at"],
                include=["minutes", "billable", "user", "ticket"],
                name="worklog_time_idx",
            ),
            models.Index(fields=["user", "worked_at"], name="worklog_user_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(minutes__gte=1, minutes__lte=WORKLOG_MAX_MINUTES), name="worklog_minutes_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.minutes} min on {self.ticket_id} by {self.user_id}"
