from django.db import models

from counterfield.django import CounterField


class ReviewRequest(models.Model):
    summary = models.TextField(default="")
    review_count = CounterField()
    ship_it_count = CounterField()


class Review(models.Model):
    review_request = models.ForeignKey(ReviewRequest, on_delete=models.CASCADE,
                                       related_name="reviews")
    ship_it = models.BooleanField(default=False)


class Group(models.Model):
    name = models.TextField(default="")
    member_count = CounterField()


class Person(models.Model):
    name = models.TextField(default="")
    group_count = CounterField()
    groups = models.ManyToManyField(Group, related_name="members")
