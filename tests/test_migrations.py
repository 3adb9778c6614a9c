"""Every model matches its migrations: a changed field without a migration fails here."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_is_missing_a_migration():
    output = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=output, stderr=output)
    except SystemExit:  # --check exits 1 when a migration is missing
        pytest.fail(f"A model changed without a migration (run makemigrations):\n{output.getvalue()}")
    assert "No changes detected" in output.getvalue()


@pytest.mark.django_db
def test_the_audit_trail_has_its_plain_sql_kpi_indexes():
    # pghistory generates the audit model, so its indexes are RunSQL: a model change cannot
    # catch one going missing. backlog_open needs the cancellations one at 10 million rows.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tickets_ticketaudit'")
        indexes = dict(cursor.fetchall())
    assert "WHERE (assignee_id IS NOT NULL)" in indexes["ticket_audit_assigned_idx"]
    assert (
        "(pgh_obj_id, pgh_created_at) WHERE ((status)::text = 'cancelled'::text)"
        in indexes["ticket_audit_cancelled_idx"]
    )
