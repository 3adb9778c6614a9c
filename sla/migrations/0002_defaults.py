"""The built-in 24×7 calendar, the default tier multipliers and the default policy per priority."""

from decimal import Decimal

from django.db import migrations

MULTIPLIERS = {"enterprise": Decimal("0.50"), "business": Decimal("0.75"), "standard": Decimal("1.00"),
               "free": Decimal("1.50")}
# priority: (first response minutes, resolution minutes)
POLICIES = {"critical": (15, 120), "high": (30, 240), "medium": (120, 480), "low": (240, 1440)}
NAMES = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}


def create_defaults(apps, schema_editor):
    Calendar = apps.get_model("sla", "Calendar")
    TierMultiplier = apps.get_model("sla", "TierMultiplier")
    SLAPolicy = apps.get_model("sla", "SLAPolicy")
    EscalationStep = apps.get_model("sla", "EscalationStep")
    calendar, _created = Calendar.objects.get_or_create(
        name="24×7", defaults={"time_zone": "UTC", "around_the_clock": True, "builtin": True}
    )
    for tier, multiplier in MULTIPLIERS.items():
        TierMultiplier.objects.get_or_create(tier=tier, defaults={"multiplier": multiplier})
    for priority, (response, resolution) in POLICIES.items():
        policy, created = SLAPolicy.objects.get_or_create(
            name=f"{NAMES[priority]} (default)",
            defaults={"priority": priority, "response_minutes": response, "resolution_minutes": resolution,
                      "calendar": calendar, "warning_threshold_percent": 15},
        )
        if created:
            # At the breach, the assignee's team lead hears of it; an hour later, the admins do.
            EscalationStep.objects.create(policy=policy, position=1, after_minutes=0, action="notify_team_lead")
            EscalationStep.objects.create(policy=policy, position=2, after_minutes=60, action="notify_role",
                                          role="admin")


class Migration(migrations.Migration):
    dependencies = [("sla", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
