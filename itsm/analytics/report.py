"""Before/after: each KPI over two periods side by side, with the absolute and relative change
(``manage.py kpi_report`` and the dashboard's comparison)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from itsm import kpis

PERIOD = re.compile(r"^(\d{4}-\d{2}-\d{2}):(\d{4}-\d{2}-\d{2})$")


def parse_period(text: str, field_name: str) -> tuple[date, date]:
    """``YYYY-MM-DD:YYYY-MM-DD`` (both days included)."""
    match = PERIOD.match((text or "").strip())
    if not match:
        raise kpis.KPIInputError(field_name, f"{field_name} must be YYYY-MM-DD:YYYY-MM-DD, not {text!r}.")
    try:
        first, last = date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2))
    except ValueError as error:
        raise kpis.KPIInputError(field_name, f"{field_name}: {error}.") from error
    if last < first:
        raise kpis.KPIInputError(field_name, f"{field_name} ends ({last}) before it starts ({first}).")
    return first, last


@dataclass
class Line:
    kpi: str
    label: str
    unit: str
    stat: str  # "" or mean/median/p90 for distributions
    group: str | None
    before: float | None
    after: float | None
    change: float | None
    change_percent: float | None
    better: str


def _numbers(kpi: kpis.KPI, value: Any) -> list[tuple[str, float | None]]:
    if kpi.distribution:
        return [(stat, (value or {}).get(stat)) for stat in kpis.STATS]
    if isinstance(value, dict):  # a breakdown (backlog by age)
        return [(key, number) for key, number in value.items()]
    return [("", value)]


def compare(
    names: list[str] | None,
    before: tuple[date, date],
    after: tuple[date, date],
    *,
    group_by: str | None = None,
    user: Any = None,
    filters: dict[str, Any] | None = None,
) -> list[Line]:
    """Two ``compute`` calls; momentary KPIs (at risk now) have no past and are left out."""
    names = names or [kpi.name for kpi in kpis.all_kpis() if kpi.kind != kpis.Kind.NOW]
    names = kpis.check_names(names)
    results = []
    for first, last in (before, after):
        start, end = kpis.day_bounds(first, last)
        results.append(kpis.compute(names, start, end, group_by, user=user, filters=filters))
    old, new = results
    groups: dict[Any, str | None] = {}
    for row in old.rows + new.rows:
        groups.setdefault(row.group, row.label)
    lines = []
    for name in names:
        kpi = kpis.get(name)
        for key, label in groups.items():
            for (stat, was), (_stat, now) in zip(
                _numbers(kpi, old.value(name, group=key)),
                _numbers(kpi, new.value(name, group=key)),
                strict=False,
            ):
                change = None if was is None or now is None else round(now - was, 4)
                percent = round(100 * change / was, 1) if change is not None and was else None
                lines.append(
                    Line(
                        kpi=name,
                        label=str(kpi.label),
                        unit=kpi.unit,
                        stat=stat,
                        group=label if key is not None else None,
                        before=was,
                        after=now,
                        change=change,
                        change_percent=percent,
                        better=kpi.better,
                    )
                )
    return lines


def as_csv(lines: list[Line]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["kpi", "stat", "group", "before", "after", "change", "change_percent", "unit"])
    for line in lines:
        writer.writerow(
            [line.kpi, line.stat, line.group or "", _cell(line.before), _cell(line.after), _cell(line.change),
             _cell(line.change_percent), line.unit]
        )  # fmt: skip
    return buffer.getvalue()


def as_json(
    lines: list[Line], before: tuple[date, date], after: tuple[date, date], group_by: str | None
) -> str:
    return json.dumps(
        {
            "before": {"from": before[0].isoformat(), "to": before[1].isoformat()},
            "after": {"from": after[0].isoformat(), "to": after[1].isoformat()},
            "group_by": group_by,
            "lines": [asdict(line) for line in lines],
        },
        indent=2,
    )


def as_table(lines: list[Line]) -> str:
    headers = ["KPI", "group", "before", "after", "change", "change %"]
    body = [
        [
            line.kpi + (f".{line.stat}" if line.stat else ""),
            line.group or "—",
            _cell(line.before) or "—",
            _cell(line.after) or "—",
            _signed(line.change),
            _signed(line.change_percent, "%"),
        ]
        for line in lines
    ]
    widths = [max(len(str(row[index])) for row in [headers, *body]) for index in range(len(headers))]
    out = ["  ".join(str(cell).ljust(width) for cell, width in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * width for width in widths))
    out.extend(
        "  ".join(
            str(cell).ljust(width) if index < 2 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in body
    )
    return "\n".join(out) + "\n"


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _signed(value: float | None, suffix: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:+g}{suffix}"
