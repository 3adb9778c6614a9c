"""The agent home's work summary, filled by the apps (the core imports none of them).

Each app registers a section: a function of the user returning tiles, from a fixed number of
queries. A tile is a number with a label and a link to the queue filtered to what it counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: Any  # a number, or None ("—": nothing measured)
    url: str
    tone: str = ""  # bad | warn | ok | "" (neutral)
    unit: str = ""  # shown after the value (h, min)
    hint: str = ""


@dataclass(frozen=True)
class Section:
    name: str
    label: str
    tiles: Callable[[Any], list[Tile]]
    order: int = 100


_sections: dict[str, Section] = {}


def register_section(section: Section) -> None:
    _sections[section.name] = section


def sections_for(user: Any) -> list[tuple[Section, list[Tile]]]:
    if not getattr(user, "is_agent", False):
        return []
    ordered = sorted(_sections.values(), key=lambda section: (section.order, section.name))
    return [(section, section.tiles(user)) for section in ordered]
