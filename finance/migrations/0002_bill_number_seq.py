from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("finance", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE finance_bill_number_seq",
            "DROP SEQUENCE finance_bill_number_seq",
        ),
    ]
