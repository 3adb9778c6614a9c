from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("changes", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS changes_number_seq;",
            "DROP SEQUENCE IF EXISTS changes_number_seq;",
        ),
    ]
