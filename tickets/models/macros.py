"""Macros: a canned reply with placeholders plus ticket changes, applied in one click."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tickets.models.priority import Priority
from tickets.models.ticket import TicketStatus

if TYPE_CHECKING:
    from itsm.models import User


class MacroVisibility(models.TextChoices):
    PERSONAL = "personal", _("Personal")
    TEAM = "team", _("Team")
    SHARED = "shared", _("Shared")


class MacroQuerySet(models.QuerySet):
    def available_to(self, user: User) -> MacroQuerySet:
        """Shared macros, the user's own, and their teams' (agents only; nobody else uses macros)."""
        if not getattr(user, "is_agent", False):
            return self.none()
        return self.filter(
            Q(visibility=MacroVisibility.SHARED)
            | Q(visibility=MacroVisibility.PERSONAL, owner=user)
            | Q(visibility=MacroVisibility.TEAM, team__members=user)
        ).distinct()

    def active(self) -> MacroQuerySet:
        return self.filter(active=True)


class Macro(models.Model):
    name = models.CharField(_("name"), max_length=120)
    # A Django template rendered in a sandbox (``tickets.actions.macros.render_macro_body``).
    body = models.TextField(_("reply text"), blank=True)
    internal = models.BooleanField(_("internal note"), default=False)
    visibility = models.CharField(
        _("visibility"), max_length=10, choices=MacroVisibility.choices, default=MacroVisibility.PERSONAL
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="macros"
    )
    team = models.ForeignKey(
        "itsm.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="macros"
    )
    # The changes: empty means "leave as it is".
    set_status = models.CharField(_("set status"), max_length=20, choices=TicketStatus.choices, blank=True)
    resolution = models.TextField(_("resolution summary"), blank=True)
    set_priority = models.CharField(_("set priority"), max_length=10, choices=Priority.choices, blank=True)
    priority_reason = models.CharField(_("priority reason"), max_length=500, blank=True)
    assign_to_me = models.BooleanField(_("assign to the agent applying it"), default=False)
    set_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assign to"),
    )
    set_team = models.ForeignKey(
        "itsm.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team"),
    )
    add_tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    active = models.BooleanField(default=True)
    usage_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = MacroQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("macro")
        indexes = [models.Index(fields=["visibility", "owner"], name="macro_visibility_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(visibility="personal") | Q(owner__isnull=False), name="macro_personal_has_owner"
            ),
            models.CheckConstraint(
                condition=~Q(visibility="team") | Q(team__isnull=False), name="macro_team_has_team"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_usable_by(self, user: User) -> bool:
        return Macro.objects.available_to(user).filter(pk=self.pk, active=True).exists()

    def can_be_edited_by(self, user: User) -> bool:
        """Admins edit any macro; agents their own personal and team macros (shared ones are the admins')."""
        if getattr(user, "is_admin", False):
            return True
        return bool(
            getattr(user, "is_agent", False)
            and self.visibility != MacroVisibility.SHARED
            and self.owner_id == user.pk
        )

    def count_use(self) -> None:
        # One UPDATE: two agents applying it at once both count.
        now = timezone.now()
        Macro.objects.filter(pk=self.pk).update(usage_count=F("usage_count") + 1, last_used_at=now)
