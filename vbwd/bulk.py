"""Writing the new rows of several tables in one round trip.

A use case that inserts an invoice, its lines and its audit entries pays a database round trip
(and the ORM's statement building) per table. On PostgreSQL ``insert_together`` sends them as one
statement whose parts are data-modifying ``WITH`` clauses: every part runs exactly once, all or
nothing, in the caller's transaction. Foreign keys are checked at commit (Django creates them
``DEFERRABLE INITIALLY DEFERRED``), so the order of the parts does not matter. Elsewhere (SQLite)
each group is a ``bulk_create`` of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, router
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery


def _insert_sql(
    model: type[Model], objs: Sequence[Model], using: str, on_conflict=None
) -> tuple[str, tuple]:
    opts = model._meta
    fields = [field for field in opts.concrete_fields if not field.generated]
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="insert_together")
        if obj.pk is None:
            raise ValueError("insert_together writes rows whose primary key is set")
    query = InsertQuery(model, on_conflict=on_conflict)
    query.insert_values(fields, objs, raw=False)
    statements = query.get_compiler(using=using).as_sql()
    if len(statements) != 1:
        raise ValueError(f"{model.__name__}: the rows do not fit one INSERT")
    sql, params = statements[0]
    return sql, tuple(params)


def insert_together(*groups: Sequence[Model], using: str | None = None) -> None:
    """Inserts every object of every group (each group: instances of one model, primary keys
    set), with one statement on PostgreSQL. Like ``bulk_create``: no ``save()``, no signals;
    ``auto_now`` fields are filled in."""
    groups = tuple(group for group in groups if group)
    if not groups:
        return
    using = using or router.db_for_write(type(groups[0][0]))
    connection = connections[using]
    if connection.vendor != "postgresql" or len(groups) == 1:
        for group in groups:
            type(group[0]).objects.using(using).bulk_create(group)
        return
    parts = [_insert_sql(type(group[0]), group, using) for group in groups]
    *first, (last_sql, last_params) = parts
    sql = (
        "WITH "
        + ", ".join(f"written_{index} AS ({part_sql})" for index, (part_sql, _) in enumerate(first))
        + " "
        + last_sql
    )
    params = tuple(param for _, part_params in first for param in part_params) + last_params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    for group in groups:
        for obj in group:
            obj._state.adding = False
            obj._state.db = using


def insert_unless_conflict(obj: Model, *, using: str | None = None) -> bool:
    """Inserts ``obj`` (primary key set) unless the row would violate a unique constraint;
    True when it was inserted. One statement (``INSERT … ON CONFLICT DO NOTHING RETURNING``)
    instead of an insert in a savepoint whose error is caught: a concurrent insert of the same
    key that is not committed yet is waited for, and then either conflicts (it committed) or
    not (it rolled back), as a plain insert would."""
    model = type(obj)
    using = using or router.db_for_write(model)
    connection = connections[using]
    sql, params = _insert_sql(model, [obj], using, on_conflict=OnConflict.IGNORE)
    pk_column = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {pk_column}", params)
        inserted = cursor.fetchone() is not None
    if inserted:
        obj._state.adding = False
        obj._state.db = using
    return inserted
