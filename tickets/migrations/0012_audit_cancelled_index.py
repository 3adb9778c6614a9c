from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0011_catalog_approval"),
    ]

    operations = [
        # backlog_open reads when each cancelled ticket was cancelled: its first audit row with
        # the status. At 10 million audit rows the scan of each ticket's whole trail made the KPI
        # eight times slower (bench/audit_growth.py); this index holds only those rows.
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS ticket_audit_cancelled_idx ON tickets_ticketaudit "
            "(pgh_obj_id, pgh_created_at) WHERE status = 'cancelled'",
            "DROP INDEX IF EXISTS ticket_audit_cancelled_idx",
        ),
    ]
