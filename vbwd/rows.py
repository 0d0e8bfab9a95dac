"""One model row by one column, with SQL written once per process.

Building a query with the ORM (cloning the queryset, resolving the lookup, compiling the select
list, the ordering and the limit) costs several times the round trip of a one-row read by an
indexed column. The reads every request of a kind makes (the caller's user row, their details,
their token balance) use ``row_by`` instead: the statement, the column names and each column's
converters (what the ORM applies to the driver's values, e.g. text to UUID on SQLite) are
worked out once per model, column and database, and the row becomes a model instance the way
the ORM makes one (``Model.from_db``).
"""

from __future__ import annotations

from functools import cache

from django.db import connections, router
from django.db.models import Model


@cache
def _statement(model: type[Model], field_name: str, alias: str):
    connection = connections[alias]
    quote = connection.ops.quote_name
    meta = model._meta
    fields = meta.concrete_fields
    columns = ", ".join(quote(field.column) for field in fields)
    converters = []
    for field in fields:
        column = field.get_col(meta.db_table)
        functions = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        converters.append((column, tuple(functions)))
    key = meta.get_field(field_name)
    # Only quoted names from the model; the value is a parameter. At most one row is wanted.
    sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(key.column)} = %s"  # noqa: S608
    return sql, [field.attname for field in fields], converters, key


def row_by(model: type[Model], field_name: str, value) -> Model | None:
    """The row of ``model`` whose ``field_name`` (a unique column) equals ``value``, or None;
    a fresh read from the database on every call."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    sql, names, converters, key = _statement(model, field_name, alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [key.get_db_prep_value(value, connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for cell, (column, functions) in zip(row, converters, strict=True):
        for function in functions:
            cell = function(cell, column, connection)
        values.append(cell)
    return model.from_db(alias, names, values)
