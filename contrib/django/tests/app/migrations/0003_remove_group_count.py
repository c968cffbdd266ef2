from django.db import migrations

from counterfield.django import RemoveCounter


class Migration(migrations.Migration):
    dependencies = [("app", "0002_counters")]
    operations = [
        RemoveCounter("person", "group_count", "person.groups", flush="transaction"),
    ]
