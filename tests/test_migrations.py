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
