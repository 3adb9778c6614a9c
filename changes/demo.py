"""Demo change requests for ``manage.py seed_demo`` (made once): a week of planned changes with a
conflict, one waiting for approval, a standard one scheduled, one addressing a problem."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone

from changes import actions
from changes.models import ChangeRequest
from cmdb.models import ConfigurationItem
from problems.models import Problem


def _next_sunday(at: time) -> datetime:
    today = timezone.localdate()
    sunday = today + timedelta(days=(6 - today.weekday()) % 7 or 7)
    return datetime.combine(sunday, at, tzinfo=timezone.get_current_timezone())


def seed_changes(sender: Any, users: dict, teams: dict, stdout: Any = None, **kwargs: Any) -> None:
    if ChangeRequest.objects.filter(title__startswith="Demo:").exists():
        return
    agent, team = users["agent"], teams["Applications"]
    items = {
        item.name: item
        for item in ConfigurationItem.objects.filter(name__in=["web01", "web02", "db-prod-01"])
    }
    window = _next_sunday(time(2, 0))

    def plan(title: str, start: datetime, hours: float, **fields: Any) -> ChangeRequest:
        fields.setdefault("implementation_plan", "Drain, apply, check, return to service one node at a time.")
        fields.setdefault("backout_plan", "Restore the snapshot taken before the change.")
        return actions.do_create_change(
            actor=agent,
            title=title,
            team=team,
            planned_start=start,
            planned_end=start + timedelta(hours=hours),
            **fields,
        )

    web = [items[name] for name in ("web01", "web02") if name in items]
    patch = plan(
        "Demo: security patches on the web servers",
        window,
        1.5,
        likelihood="low",
        impact="medium",
        affected_items=web,
        services=["Customer portal"],
    )
    actions.do_transition_change(patch, "assess", actor=agent)
    actions.do_transition_change(patch, "authorize", actor=agent)  # waits for the Applications lead
    restart = plan(
        "Demo: restart web01 for a kernel update",
        window + timedelta(minutes=30),
        1,
        type="emergency",
        likelihood="medium",
        impact="high",
        affected_items=web[:1],
    )
    actions.do_transition_change(restart, "assess", actor=agent)  # conflicts with the patches
    logs = plan("Demo: rotate application logs", window + timedelta(days=1, hours=1), 0.5, type="standard")
    actions.do_transition_change(logs, "assess", actor=agent)
    actions.do_transition_change(logs, "authorize", actor=agent)  # standard: scheduled at once
    vpn = Problem.objects.filter(title__icontains="VPN").order_by("pk").first()
    plan(
        "Demo: raise the VPN concentrator rekey interval",
        window + timedelta(days=3, hours=20),
        1,
        likelihood="medium",
        impact="medium",
        services=["VPN"],
        problems=[vpn] if vpn else [],
        reason="Tunnels drop at each hourly rekey.",
    )
    if stdout is not None:
        stdout.write("Demo changes: 4 created")
