"""Conflicts of a change: another planned change on the same configuration item or service at
an overlapping time, or work outside an affected item's maintenance windows.

They are computed when read (never stored), so both changes of a clash show it, and a change
moved out of the way stops conflicting at once. They block authorisation unless an agent
accepted them with a reason (``ChangeRequest.overridden_conflicts`` keeps their keys).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch, Q

from changes.models import PLANNED_STATUSES, ChangeRequest
from cmdb.models import ConfigurationItem


@dataclass(frozen=True)
class Conflict:
    kind: str  # "overlap" or "maintenance_window"
    key: str  # stable identity, for overrides: "overlap:CHG-000002:item:7", "window:item:7"
    message: str
    other: ChangeRequest | None = None
    item: ConfigurationItem | None = None
    service: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "key": self.key,
            "message": self.message,
            "change": self.other.number if self.other else None,
            "item": self.item.name if self.item else None,
            "service": self.service or None,
        }


def with_items() -> Prefetch:
    return Prefetch("affected_items", queryset=ConfigurationItem.objects.order_by("name"))


def _pair_conflicts(change: ChangeRequest, other: ChangeRequest) -> list[Conflict]:
    mine = {item.pk for item in change.affected_items.all()}
    found = [
        Conflict(
            kind="overlap",
            key=f"overlap:{other.number}:item:{item.pk}",
            message=f"{other.number} also changes {item.name} at an overlapping time.",
            other=other,
            item=item,
        )
        for item in other.affected_items.all()
        if item.pk in mine
    ]
    found += [
        Conflict(
            kind="overlap",
            key=f"overlap:{other.number}:service:{service}",
            message=f"{other.number} also changes the service {service} at an overlapping time.",
            other=other,
            service=service,
        )
        for service in sorted(set(change.services) & set(other.services))
    ]
    return found


def _window_conflicts(change: ChangeRequest) -> list[Conflict]:
    if not change.has_window:
        return []
    return [
        Conflict(
            kind="maintenance_window",
            key=f"window:item:{item.pk}",
            message=f"The window is outside every maintenance window of {item.name}.",
            item=item,
        )
        for item in change.affected_items.all()
        if item.is_outside_maintenance_windows(change.planned_start, change.planned_end)
    ]


def conflicts_of(change: ChangeRequest) -> list[Conflict]:
    """The conflicts of one change, in two queries (the clashing changes with their items)."""
    if not change.has_window:
        return []
    items = [item.pk for item in change.affected_items.all()]
    if not items and not change.services:
        return []
    others = (
        ChangeRequest.objects.planned()
        .exclude(pk=change.pk)
        .overlapping(change.planned_start, change.planned_end)
        .filter(Q(affected_items__in=items) | Q(services__overlap=change.services or [""]))
        .distinct()
        .order_by("planned_start", "id")
        .prefetch_related(with_items())
    )
    found = []
    for other in others:
        found.extend(_pair_conflicts(change, other))
    return found + _window_conflicts(change)


def conflicts_among(changes: Iterable[ChangeRequest]) -> dict[int, list[Conflict]]:
    """Conflicts between the given changes (a calendar's), without a query: their items must
    be prefetched. Changes outside the given set are not looked at."""
    planned = [c for c in changes if c.has_window and c.status in PLANNED_STATUSES]
    result: dict[int, list[Conflict]] = {change.pk: _window_conflicts(change) for change in planned}
    for index, change in enumerate(planned):
        for other in planned[index + 1 :]:
            if change.planned_start < other.planned_end and other.planned_start < change.planned_end:
                result[change.pk].extend(_pair_conflicts(change, other))
                result[other.pk].extend(_pair_conflicts(other, change))
    return result


def unaccepted(change: ChangeRequest, conflicts: list[Conflict]) -> list[Conflict]:
    accepted = set(change.overridden_conflicts or [])
    return [conflict for conflict in conflicts if conflict.key not in accepted]
