"""
Django against counterfield: migrations forward and back, ORM writes,
counts compared with the ORM's own count().  Run by test/run check with
Debian's python3-django and python3-psycopg2, against the throwaway
cluster that PGHOST and PGPORT name.
"""

import os
import sys

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.dirname(os.path.dirname(HERE))]

DATABASE = "counterfield_django"

admin = psycopg2.connect(dbname="postgres")
admin.autocommit = True
with admin.cursor() as cursor:
    cursor.execute("DROP DATABASE IF EXISTS " + DATABASE)
    cursor.execute("CREATE DATABASE " + DATABASE)

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE,
        "HOST": os.environ.get("PGHOST", ""),
        "PORT": os.environ.get("PGPORT", ""),
        "USER": os.environ.get("PGUSER", "postgres"),
    }},
    INSTALLED_APPS=["tests.app"],
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    USE_TZ=True,
)
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from tests.app.models import Group, Person, Review, ReviewRequest  # noqa: E402

checks = 0


def check_counts(step):
    """Every counter equals what the ORM counts, after refresh_from_db()."""
    global checks
    for rr in ReviewRequest.objects.all():
        rr.refresh_from_db()
        assert rr.review_count == rr.reviews.count(), (step, rr.pk, "review_count")
        assert rr.ship_it_count == rr.reviews.filter(ship_it=True).count(), \
            (step, rr.pk, "ship_it_count")
    for group in Group.objects.all():
        group.refresh_from_db()
        assert group.member_count == group.members.count(), (step, group.pk)
    for person in Person.objects.all():
        person.refresh_from_db()
        assert person.group_count == person.groups.count(), (step, person.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM counterfield.verify()")
        assert cursor.fetchone()[0] == 0, (step, "verify")
    checks += 1


def counters():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM counterfield.counters")
        return cursor.fetchone()[0]


# Migrations forward: the counters exist.
call_command("migrate", "app", "0001", verbosity=0)
a, b = ReviewRequest.objects.create(), ReviewRequest.objects.create()
Review.objects.bulk_create([Review(review_request=a), Review(review_request=a, ship_it=True)])
call_command("migrate", "app", "0002", verbosity=0)
assert counters() == 4, counters()
check_counts("add_counter counts existing rows")

# A new parent gets its count back from INSERT ... RETURNING.
c = ReviewRequest.objects.create(summary="new", review_count=42)
assert c.review_count == 0, c.review_count
check_counts("create")

# ORM writes.
Review.objects.create(review_request=b)
Review.objects.bulk_create([Review(review_request=c, ship_it=True) for _ in range(5)])
check_counts("create, bulk_create")
Review.objects.filter(review_request=c).update(review_request=b)
check_counts("update moving rows")
Review.objects.filter(review_request=b, ship_it=False).update(ship_it=True)
check_counts("update flipping the condition")
review = Review.objects.filter(review_request=b).first()
review.review_request = a
review.save()
check_counts("moving a child with save()")
Review.objects.filter(ship_it=True).first().delete()
check_counts("delete")
c.delete()
check_counts("delete of a parent")

# A stale copy saved by the ORM does not write the counter.
stale = ReviewRequest.objects.get(pk=a.pk)
Review.objects.create(review_request=a)
stale.summary = "edited"
with CaptureQueriesContext(connection) as queries:
    stale.save()
assert not any("review_count" in q["sql"] for q in queries.captured_queries if
               q["sql"].startswith("UPDATE")), queries.captured_queries
check_counts("save() of a stale copy")

# Many-to-many through the auto-created table.
people = [Person.objects.create(name="p%d" % i) for i in range(3)]
groups = [Group.objects.create(name="g%d" % i) for i in range(2)]
people[0].groups.add(*groups)
people[1].groups.add(groups[0])
groups[1].members.add(people[2], people[1])
check_counts("m2m add")
people[1].groups.remove(groups[0])
check_counts("m2m remove")
groups[0].members.clear()
check_counts("m2m clear")
people[2].groups.set([groups[0]])
check_counts("m2m set")

# Transaction mode inside atomic(), with a rolled-back nested savepoint.
with transaction.atomic():
    Review.objects.create(review_request=a, ship_it=True)
    people[0].groups.add(groups[0])
    try:
        with transaction.atomic():
            Review.objects.create(review_request=b, ship_it=True)
            people[1].groups.add(groups[0])
            raise RuntimeError("roll back the savepoint")
    except RuntimeError:
        pass
    Review.objects.create(review_request=b, ship_it=True)
check_counts("transaction mode with a rolled-back savepoint")

# RemoveCounter, forward and backward.
call_command("migrate", "app", "0003", verbosity=0)
assert counters() == 3, counters()
people[2].groups.add(groups[1])
call_command("migrate", "app", "0002", verbosity=0)
assert counters() == 4, counters()
check_counts("RemoveCounter backward recounts")

# Migrations backward: the counters go, the columns keep their values;
# forward again: the counters are recomputed.
call_command("migrate", "app", "0001", verbosity=0)
assert counters() == 0, counters()
Review.objects.create(review_request=a, ship_it=True)
call_command("migrate", "app", "0002", verbosity=0)
assert counters() == 4, counters()
check_counts("migrate backward and forward")

connection.close()
with admin.cursor() as cursor:
    cursor.execute("DROP DATABASE " + DATABASE)
print("django: %d checks passed" % checks)
