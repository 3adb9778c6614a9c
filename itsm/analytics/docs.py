"""The KPI table of ``docs/analytics.md``, generated from the registry (a test keeps the two
equal: ``python -c "from itsm.analytics.docs import print_table; print_table()"`` after
``django.setup()`` prints it, or run ``manage.py shell -c`` with it)."""

from __future__ import annotations

from itsm import kpis

BEGIN = "<!-- kpi-table:begin (generated from the registry: itsm/analytics/docs.py) -->"
END = "<!-- kpi-table:end -->"


def kpi_table() -> str:
    lines = [
        "| KPI | app | unit | kind | groupings | what counts, which timestamps |",
        "|---|---|---|---|---|---|",
    ]
    for kpi in kpis.all_kpis():
        groupings = "all seven" if kpi.groupings == kpis.GROUPINGS else (", ".join(kpi.groupings) or "none")
        unit = kpi.unit + (" (mean, median, p90)" if kpi.distribution else "")
        lines.append(f"| `{kpi.name}` | {kpi.app} | {unit} | {kpi.kind} | {groupings} | {kpi.description} |")
    return "\n".join(lines)


def print_table() -> None:
    print(BEGIN)
    print(kpi_table())
    print(END)
