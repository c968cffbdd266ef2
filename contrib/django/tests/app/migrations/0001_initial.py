from django.contrib.postgres.operations import CreateExtension
from django.db import migrations, models

import counterfield.django


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        CreateExtension("counterfield"),
        migrations.CreateModel(
            name="ReviewRequest",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("summary", models.TextField(default="")),
                ("review_count", counterfield.django.CounterField()),
                ("ship_it_count", counterfield.django.CounterField()),
            ],
        ),
        migrations.CreateModel(
            name="Review",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("ship_it", models.BooleanField(default=False)),
                ("review_request", models.ForeignKey(on_delete=models.deletion.CASCADE,
                                                     related_name="reviews",
                                                     to="app.reviewrequest")),
            ],
        ),
        migrations.CreateModel(
            name="Group",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("name", models.TextField(default="")),
                ("member_count", counterfield.django.CounterField()),
            ],
        ),
        migrations.CreateModel(
            name="Person",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("name", models.TextField(default="")),
                ("group_count", counterfield.django.CounterField()),
                ("groups", models.ManyToManyField(related_name="members", to="app.group")),
            ],
        ),
    ]
