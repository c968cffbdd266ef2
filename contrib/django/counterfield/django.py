"""
counterfield for Django: counter columns that PostgreSQL keeps exact.

    from counterfield.django import CounterField, AddCounter, RemoveCounter

CounterField is the model field of a counter column.  Django reads it, gets
its value back from every INSERT (RETURNING), and never writes it in
save(): the database owns it.

AddCounter and RemoveCounter are reversible migration operations that call
counterfield.add_counter() and counterfield.drop_counter(), naming models
and fields; tables and columns are resolved through the models' _meta.
"""

from django.db import models
from django.db.migrations.operations.base import Operation


class CounterField(models.IntegerField):
    """A counter column: read by Django, written only by the database."""

    db_returning = True

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", 0)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls, name, **kwargs):
        super().contribute_to_class(cls, name, **kwargs)
        if "_counterfield_do_update" in cls.__dict__:
            return
        do_update = cls._do_update

        def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update):
            values = [value for value in values if not isinstance(value[0], CounterField)]
            return do_update(self, base_qs, using, pk_val, values, update_fields, forced_update)

        cls._do_update = _do_update
        cls._counterfield_do_update = True


def _table(schema_editor, model):
    return schema_editor.quote_name(model._meta.db_table)


def _child(apps, app_label, child):
    """The child model: a model name, or "model.m2m_field" for its through table."""
    if "." in child:
        model_name, field_name = child.split(".", 1)
        model = apps.get_model(app_label, model_name)
        return model._meta.get_field(field_name).remote_field.through
    return apps.get_model(app_label, child)


class AddCounter(Operation):
    """
    AddCounter("reviewrequest", "review_count", "review") keeps
    ReviewRequest.review_count equal to the number of its Review rows.
    fk_field names the child's foreign key when it has several to the
    parent; condition is SQL over the child's columns; flush is "statement"
    or "transaction" (for code that writes one row per statement inside
    transaction.atomic()).
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name, field_name, child, fk_field=None, condition=None,
                 flush="statement"):
        self.model_name = model_name
        self.field_name = field_name
        self.child = child
        self.fk_field = fk_field
        self.condition = condition
        self.flush = flush

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "field_name": self.field_name,
                  "child": self.child}
        for name in ("fk_field", "condition"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        if self.flush != "statement":
            kwargs["flush"] = self.flush
        return (self.__class__.__name__, [], kwargs)

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        parent = to_state.apps.get_model(app_label, self.model_name)
        child = _child(to_state.apps, app_label, self.child)
        fk_columns = None
        if self.fk_field is not None:
            fk_columns = [child._meta.get_field(self.fk_field).column]
        schema_editor.execute(
            "SELECT counterfield.add_counter(%s::regclass, %s, %s::regclass,"
            " fk_columns => %s::name[], condition => %s, flush => %s)",
            [_table(schema_editor, parent), parent._meta.get_field(self.field_name).column,
             _table(schema_editor, child), fk_columns, self.condition, self.flush])

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        parent = from_state.apps.get_model(app_label, self.model_name)
        schema_editor.execute(
            "SELECT counterfield.drop_counter(%s::regclass, %s)",
            [_table(schema_editor, parent), parent._meta.get_field(self.field_name).column])

    def describe(self):
        return "Count %s rows in %s.%s" % (self.child, self.model_name, self.field_name)


class RemoveCounter(AddCounter):
    """The reverse of AddCounter, with the same arguments."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        super().database_backwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return "Stop counting %s rows in %s.%s" % (self.child, self.model_name, self.field_name)
