"""A problem's timeline: field changes (pghistory), incidents linked and unlinked, internal notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps

from itsm.models import Team, User
from problems.models import AUDITED_FIELDS, Problem
from tickets.models import Category, Ticket

# Audited foreign keys, with what names them on the timeline.
REFERENCES = {"owner": "email", "team": "name", "category": "name", "duplicate_of": "number"}


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # "created", "changed", "linked", "unlinked", "moved", "note"
    actor: str
    field: str = ""  # the field's verbose name, in the reader's language
    old: Any = None
    new: Any = None
    ticket: Any = None  # a visible Ticket, or None when the reader may not see it
    body: str = ""


def _names(rows: list[dict[str, Any]]) -> dict[str, dict[int, str]]:
    models = {"owner": User, "team": Team, "category": Category, "duplicate_of": Problem}
    names: dict[str, dict[int, str]] = {}
    for name, model in models.items():
        wanted = {row[f"{name}_id"] for row in rows if row[f"{name}_id"] is not None}
        names[name] = (
            dict(model.objects.filter(pk__in=wanted).values_list("pk", REFERENCES[name])) if wanted else {}
        )
    return names


def _field_changes(problem: Problem) -> list[Entry]:
    audit = apps.get_model("problems", "ProblemAudit")
    columns = ["pgh_created_at", "pgh_label", "pgh_context"]
    columns += [f"{name}_id" if name in REFERENCES else name for name in AUDITED_FIELDS]
    rows = list(audit.objects.filter(pgh_obj_id=problem.pk).order_by("pgh_id").values(*columns))
    names = _names(rows)

    def value(row: dict[str, Any], name: str) -> Any:
        if name in REFERENCES:
            key = row[f"{name}_id"]
            return None if key is None else names[name].get(key, f"#{key}")
        choices = dict(Problem._meta.get_field(name).flatchoices)
        return choices.get(row[name], row[name]) if choices else row[name]

    entries, previous = [], None
    for row in rows:
        actor = (row["pgh_context"] or {}).get("actor") or ""
        if previous is None:
            entries.append(Entry(at=row["pgh_created_at"], kind="created", actor=actor))
        else:
            for name in AUDITED_FIELDS:
                old, new = value(previous, name), value(row, name)
                if old != new:
                    entries.append(
                        Entry(
                            at=row["pgh_created_at"],
                            kind="changed",
                            actor=actor,
                            field=str(Problem._meta.get_field(name).verbose_name),
                            old=old,
                            new=new,
                        )
                    )
        previous = row
    return entries


def _link_changes(problem: Problem, user: User) -> list[Entry]:
    events = apps.get_model("problems", "ProblemIncidentEvent")
    rows = list(
        events.objects.filter(problem_id=problem.pk)
        .order_by("pgh_id")
        .values("pgh_created_at", "pgh_label", "pgh_context", "ticket_id")
    )
    visible = Ticket.objects.visible_to(user).in_bulk({row["ticket_id"] for row in rows})
    return [
        Entry(
            at=row["pgh_created_at"],
            kind=row["pgh_label"],
            actor=(row["pgh_context"] or {}).get("actor") or "",
            ticket=visible.get(row["ticket_id"]),
        )
        for row in rows
    ]


def timeline(problem: Problem, user: User) -> list[Entry]:
    """Newest first; a bounded number of queries whatever the length of the history. An incident
    the reader may not see is shown as such, never by its number or title."""
    notes = [
        Entry(at=note.created_at, kind="note", actor=note.author.email if note.author else "", body=note.body)
        for note in problem.notes.select_related("author")
    ]
    entries = _field_changes(problem) + _link_changes(problem, user) + notes
    return sorted(entries, key=lambda entry: entry.at, reverse=True)
