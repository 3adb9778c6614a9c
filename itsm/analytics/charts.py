"""Server-rendered SVG line charts: no script, no CDN, readable under the CSP.

``line_chart`` turns daily series into coordinates the template draws (axes with ticks and a
unit, one polyline per series, a point per day), plus the rows of the table shown beside it
for screen readers and for anyone who wants the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.formats import date_format

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 24, 28


@dataclass
class Series:
    label: str
    css: str  # the colour class of the line: series-1 … series-4
    values: list[float | None]
    points: str = ""  # the polyline's "x,y x,y …" (gaps split into segments)
    segments: list[str] = field(default_factory=list)
    dots: list[tuple[float, float, str]] = field(default_factory=list)


@dataclass
class Chart:
    id: str
    title: str
    unit: str
    days: list[date]
    series: list[Series]
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = True
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom_y: int = HEIGHT - BOTTOM
    right_x: int = WIDTH - RIGHT
    top: int = TOP

    @property
    def rows(self) -> list[tuple[date, list[Any]]]:
        return [
            (day, [series.values[index] for series in self.series]) for index, day in enumerate(self.days)
        ]


def nice_ceiling(value: float) -> float:
    """The top of an axis with four round steps (1, 2 or 5 × a power of ten each) reaching ``value``."""
    if value <= 0:
        return 1.0
    quarter = value / 4
    power = 10 ** math.floor(math.log10(quarter))
    for step in (1, 2, 5, 10):
        if quarter <= step * power:
            return 4 * step * power
    return 40 * power


def _format(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}".rstrip("0").rstrip(".")


def line_chart(
    chart_id: str, title: str, unit: str, days: list[date], series: list[tuple[str, list[float | None]]],
    *, percent: bool = False,
) -> Chart:  # fmt: skip
    known = [value for _label, values in series for value in values if value is not None]
    top_value = nice_ceiling(max(known)) if known and max(known) > 0 else 1.0
    if percent:
        top_value = 1.0
    chart = Chart(
        id=chart_id,
        title=title,
        unit=unit,
        days=days,
        series=[Series(label, f"series-{index + 1}", values) for index, (label, values) in enumerate(series)],
        empty=not known,
    )
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    count = max(len(days) - 1, 1)

    def x_of(index: int) -> float:
        return round(LEFT + plot_width * index / count, 1)

    def y_of(value: float) -> float:
        return round(TOP + plot_height * (1 - value / top_value), 1)

    for step in range(5):
        value = top_value * step / 4
        chart.y_ticks.append((y_of(value), f"{round(value * 100)}%" if percent else _format(value)))
    if days:
        wanted = sorted({0, len(days) // 2, len(days) - 1}) if len(days) > 2 else list(range(len(days)))
        anchors = {0: "start", len(days) - 1: "end"}
        chart.x_ticks = [
            (x_of(index), date_format(days[index], "MONTH_DAY_FORMAT"), anchors.get(index, "middle"))
            for index in wanted
        ]
    for line in chart.series:
        segment: list[str] = []
        for index, value in enumerate(line.values):
            if value is None:
                if segment:
                    line.segments.append(" ".join(segment))
                segment = []
                continue
            x, y = x_of(index), y_of(float(value))
            segment.append(f"{x},{y}")
            shown = f"{round(value * 100)}%" if percent else _format(float(value))
            line.dots.append((x, y, f"{date_format(days[index], 'MONTH_DAY_FORMAT')}: {shown}"))
        if segment:
            line.segments.append(" ".join(segment))
    return chart
