from django.db import migrations

from counterfield.django import AddCounter


class Migration(migrations.Migration):
    dependencies = [("app", "0001_initial")]
    operations = [
        AddCounter("reviewrequest", "review_count", "review"),
        AddCounter("reviewrequest", "ship_it_count", "review", condition="ship_it",
                   flush="transaction"),
        AddCounter("group", "member_count", "person.groups", flush="transaction"),
        AddCounter("person", "group_count", "person.groups", flush="transaction"),
    ]
