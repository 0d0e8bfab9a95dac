"""Gapless invoice and credit-note numbers (DOMAIN §6)."""

from __future__ import annotations

from django.db import transaction

from billing.invoices.models import NumberSequence
from platform_settings.selectors import platform_settings_get

INVOICE_SERIES = "INV"
CREDIT_NOTE_SERIES = "CN"


def number_allocate(*, series: str, year: int) -> str:
    """The next number of ``series`` for ``year``, from the counter row locked until the caller's
    transaction ends: a rolled-back issue gives its number back, so the series has no gap."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("number_allocate must run inside the issuing transaction")
    # Create the year's row if missing without racing another issuer (no error on conflict).
    NumberSequence.objects.bulk_create(
        [NumberSequence(series=series, year=year, last_value=0)], ignore_conflicts=True
    )
    sequence = NumberSequence.objects.select_for_update().get(series=series, year=year)
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    settings = platform_settings_get()
    number_format = (
        settings.invoice_number_format
        if series == INVOICE_SERIES
        else settings.credit_note_number_format
    )
    return number_format.format(year=year, sequence=sequence.last_value)
