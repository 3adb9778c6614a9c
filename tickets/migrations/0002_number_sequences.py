from django.db import migrations


class Migration(migrations.Migration):
    """Ticket numbers come from one sequence per type: unique under concurrent creation."""

    dependencies = [("tickets", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS tickets_incident_number_seq; "
            "CREATE SEQUENCE IF NOT EXISTS tickets_request_number_seq;",
            "DROP SEQUENCE IF EXISTS tickets_incident_number_seq; "
            "DROP SEQUENCE IF EXISTS tickets_request_number_seq;",
        )
    ]
