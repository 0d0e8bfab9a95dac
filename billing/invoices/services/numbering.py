"""Gapless invoice and credit-note numbers."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from billing.invoices.models import NumberSequence
from platform_settings.selectors import platform_settings_get

INVOICE_SERIES = "INV"
CREDIT_NOTE_SERIES = "CN"


def _advance(*, series: str, year: int, count: int) -> int:
    """Adds ``count`` to the counter row in one UPDATE (which locks the row until the caller's
    transaction ends) and returns the new last value."""
    rows = NumberSequence.objects.filter(series=series, year=year)
    if not rows.update(last_value=F("last_value") + count):
        # Create the year's row if missing without racing another issuer (no error on conflict).
        NumberSequence.objects.bulk_create(
            [NumberSequence(series=series, year=year, last_value=0)], ignore_conflicts=True
        )
        rows.update(last_value=F("last_value") + count)
    # A new statement: it sees this transaction's own update, which no other can change now.
    return rows.values_list("last_value", flat=True).get()


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
