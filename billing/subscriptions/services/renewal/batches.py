"""How every scheduled job claims its rows: in batches ordered by primary key, each
batch one transaction whose rows are locked with ``select_for_update(skip_locked=True)``, so two
runs at once (a second beat, a manual command) share the work instead of doing it twice."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import EmptyResultSet
from django.db import transaction
from django.db.models import BooleanField, F, Func, QuerySet

logger = logging.getLogger("billing.jobs")


class AnyOf(Func):
    """The filter ``column IN (values)`` for a column of ids (UUIDs or integers), written
    ``column = ANY(%s::<type>[])`` on PostgreSQL: one array literal however many values a batch
    holds. An IN list of 1,000 ids is 1,000 parameters that the ORM prepares and the driver
    splices into the statement one by one (and a list parameter is an array the driver quotes
    element by element), several milliseconds of CPU per query; one string is quoted at once."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, column: str, values):
        super().__init__(F(column))
        self.values = list(values)

    def as_sql(self, compiler, connection, **extra_context):
        if not self.values:
            raise EmptyResultSet
        column = self.source_expressions[0]
        sql, params = compiler.compile(column)
        field = column.output_field
        values = [field.get_db_prep_value(value, connection) for value in self.values]
        if connection.vendor == "postgresql":
            # One array literal, quoted once as a string: ids (UUIDs, integers) need no escaping.
            array = "{" + ",".join(str(value) for value in values) + "}"
            return f"{sql} = ANY(%s::{field.db_type(connection)}[])", (*params, array)
        return f"{sql} IN ({', '.join(['%s'] * len(values))})", (*params, *values)


def claim_batch(queryset: QuerySet, *, after, batch_size: int) -> list:
    """The next at most ``batch_size`` rows of ``queryset`` with a primary key above ``after``
    (None: from the start), locked until the caller's transaction ends; rows another run holds
    are skipped. Keyset order offers each row once per run, so a row left unchanged cannot
    loop."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rows = queryset.select_for_update(skip_locked=True, of=("self",))
    if after is not None:
        rows = rows.filter(pk__gt=after)
    return list(rows.order_by("pk")[:batch_size])


def for_each_batch(
    queryset: QuerySet, handle_batch: Callable[[list], None], *, batch_size: int
) -> None:
    """Claims ``queryset`` batch by batch, each in its own transaction that ``handle_batch``
    works in; an exception rolls back that batch and ends the run."""
    after = None
    while True:
        with transaction.atomic():
            batch = claim_batch(queryset, after=after, batch_size=batch_size)
            if not batch:
                return
            after = batch[-1].pk
            handle_batch(batch)


def run_per_row(
    queryset: QuerySet, handle: Callable[[object], bool], *, job: str, batch_size: int
) -> int:
    """Runs ``handle(row)`` for every claimed row inside a savepoint of its batch's transaction;
    a row whose handling raises is rolled back alone, logged and left for the next run.
    Returns how many rows ``handle`` reported as changed."""
    changed = 0

    def handle_batch(batch: list) -> None:
        nonlocal changed
        for row in batch:
            try:
                with transaction.atomic():
                    if handle(row):
                        changed += 1
            except Exception:
                logger.exception("%s: %s %s failed", job, type(row).__name__, row.pk)

    for_each_batch(queryset, handle_batch, batch_size=batch_size)
    return changed
