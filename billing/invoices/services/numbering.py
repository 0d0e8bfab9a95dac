"""Gapless invoice and credit-note numbers."""

from __future__ import annotations

from django.db import connection, transaction

from billing.invoices.models import NumberSequence
from platform_settings.selectors import platform_settings_get

INVOICE_SERIES = "INV"
CREDIT_NOTE_SERIES = "CN"


def _update_returning(*, series: str, year: int, count: int) -> int | None:
    """``UPDATE … RETURNING``: adds ``count`` to the counter row (which stays locked until the
    caller's transaction ends) and returns the new last value in the same statement; None when
    the year's row does not exist yet."""
    table = connection.ops.quote_name(NumberSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_value = last_value + %s "  # noqa: S608 - the model's table
            "WHERE series = %s AND year = %s RETURNING last_value",
            [count, series, year],
        )
        row = cursor.fetchone()
    return row[0] if row is not None else None


def _advance(*, series: str, year: int, count: int) -> int:
    """Adds ``count`` to the counter row in one UPDATE (which locks the row until the caller's
    transaction ends) and returns the new last value."""
    last = _update_returning(series=series, year=year, count=count)
    if last is None:
        # Create the year's row if missing without racing another issuer (no error on conflict).
        NumberSequence.objects.bulk_create(
            [NumberSequence(series=series, year=year, last_value=0)], ignore_conflicts=True
        )
        last = _update_returning(series=series, year=year, count=count)
    return last


def number_allocate(*, series: str, year: int, count: int | None = None) -> str | list[str]:
    """The next number of ``series`` for ``year``, from the counter row locked until the caller's
    transaction ends: a rolled-back issue gives its number back, so the series has no gap. With
    ``count``, the next ``count`` consecutive numbers as a list, from one locked update."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("number_allocate must run inside the issuing transaction")
    block = 1 if count is None else count
    if block < 1:
        raise ValueError("count must be at least 1")
    last = _advance(series=series, year=year, count=block)
    settings = platform_settings_get()
    number_format = (
        settings.invoice_number_format
        if series == INVOICE_SERIES
        else settings.credit_note_number_format
    )
    numbers = [
        number_format.format(year=year, sequence=value)
        for value in range(last - block + 1, last + 1)
    ]
    return numbers[0] if count is None else numbers
