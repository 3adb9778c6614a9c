"""Background work of the tickets app (procrastinate; autodiscovered)."""

from __future__ import annotations

from procrastinate.contrib.django import app


@app.task(queue="exports", retry=3, pass_context=False)
def build_export(export_id: int) -> None:
    """Build one ticket export (idempotent: a ready or failed export is left alone)."""
    from tickets.actions import do_build_export

    do_build_export(export_id)
