from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("problems", "0001_initial"), ("tickets", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS problems_number_seq;",
            "DROP SEQUENCE IF EXISTS problems_number_seq;",
        ),
        # Recurrence detection compares incident titles by trigram similarity.
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS problems_ticket_title_trgm ON tickets_ticket USING gin (title gin_trgm_ops);",
            "DROP INDEX IF EXISTS problems_ticket_title_trgm;",
        ),
    ]
