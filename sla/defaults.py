"""The defaults every installation starts with (also created by migration 0002): the built-in
24×7 calendar, the tier multipliers, and one policy per priority with a two-step escalation.
``ensure_defaults()`` is idempotent: it only adds what is missing."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from sla.models import Calendar, EscalationStep, SLAPolicy, TierMultiplier

BUILTIN_CALENDAR = "24×7"
MULTIPLIERS = {
    "enterprise": Decimal("0.50"),
    "business": Decimal("0.75"),
    "standard": Decimal("1.00"),
    "free": Decimal("1.50"),
}
# priority: (first response minutes, resolution minutes)
POLICIES = {"critical": (15, 120), "high": (30, 240), "medium": (120, 480), "low": (240, 1440)}
NAMES = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}


@transaction.atomic
def ensure_defaults() -> None:
    calendar = Calendar.objects.filter(builtin=True).first()
    if calendar is None:
        calendar, _created = Calendar.objects.get_or_create(
            name=BUILTIN_CALENDAR, defaults={"time_zone": "UTC", "around_the_clock": True, "builtin": True}
        )
    for tier, multiplier in MULTIPLIERS.items():
        TierMultiplier.objects.get_or_create(tier=tier, defaults={"multiplier": multiplier})
    for priority, (response, resolution) in POLICIES.items():
        if SLAPolicy.objects.filter(
            priority=priority,
            is_active=True,
            ticket_type="",
            category__isnull=True,
            organisation__isnull=True,
        ).exists():
            continue
        policy, created = SLAPolicy.objects.get_or_create(
            name=f"{NAMES[priority]} (default)",
            defaults={
                "priority": priority,
                "response_minutes": response,
                "resolution_minutes": resolution,
                "calendar": calendar,
                "warning_threshold_percent": 15,
            },
        )
        if created:
            # At the breach, the assignee's team lead hears of it; an hour later, the admins do.
            EscalationStep.objects.create(
                policy=policy, position=1, after_minutes=0, action="notify_team_lead"
            )
            EscalationStep.objects.create(
                policy=policy, position=2, after_minutes=60, action="notify_role", role="admin"
            )
