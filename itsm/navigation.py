"""The agent navigation, filled by each domain app in its ``AppConfig.ready()``.

The core lists what apps register; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    order: int = 100
    # Roles that see the item; empty means every signed-in user.
    roles: frozenset[str] = field(default_factory=frozenset)


_items: dict[str, NavItem] = {}


def register(item: NavItem) -> None:
    _items[item.url_name] = item


def items_for(user: object) -> list[NavItem]:
    role = getattr(user, "role", None)
    is_superuser = getattr(user, "is_superuser", False)
    visible = [
        item
        for item in _items.values()
        if not item.roles or role in item.roles or (is_superuser and "admin" in item.roles)
    ]
    return sorted(visible, key=lambda item: (item.order, item.label))
