"""The accountant's CSV exports of invoices, payments and credit notes for a range of days.

Every row names its document, its dates, the customer as the document names them (the buyer
snapshot's name, country and VAT id, and the account's email), the amounts in the currency's
decimal places, the currency and the status. Invoice and credit-note rows split their tax by rate:
one column per rate found in the export. A credit note's tax is spread over its invoice's rates in
proportion to the invoice's tax at each rate (a partial refund takes its tax in that proportion);
the rounding difference goes to the rate with the most tax, so the columns add up to the note's
tax exactly.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch

from billing.catalog.pricing import format_money
from billing.invoices.models import CreditNote, Invoice, InvoiceLine, Payment
from billing.invoices.selectors import currency_places_by_code
from vbwd.money import round_money

# Cells a spreadsheet would read as a formula start with one of these; they are quoted.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DayRange:
    """From the start of ``first`` to the end of ``last`` (UTC days, both included)."""

    first: datetime.date
    last: datetime.date

    @property
    def start(self) -> datetime.datetime:
        return datetime.datetime.combine(self.first, datetime.time.min, tzinfo=datetime.UTC)

    @property
    def end(self) -> datetime.datetime:
        following = self.last + datetime.timedelta(days=1)
        return datetime.datetime.combine(following, datetime.time.min, tzinfo=datetime.UTC)


def _text(value) -> str:
    """A cell: text that could run as a formula is prefixed with an apostrophe."""
    if value is None:
        return ""
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _day(moment) -> str:
    return moment.astimezone(datetime.UTC).date().isoformat() if moment else ""


def _rate_label(rate: Decimal) -> str:
    return f"tax {rate.quantize(Decimal('0.01'))}%"


def _tax_by_rate(lines: Iterable[InvoiceLine]) -> dict[Decimal, Decimal]:
    rates: dict[Decimal, Decimal] = {}
    for line in lines:
        rates[line.tax_rate] = rates.get(line.tax_rate, Decimal(0)) + line.tax_amount
    return rates


def _spread(tax: Decimal, shares: dict[Decimal, Decimal], places: int) -> dict[Decimal, Decimal]:
    """``tax`` over the rates in proportion to ``shares``; exact in total."""
    if not shares:
        return {}
    total = sum(shares.values())
    if total == 0:
        first = next(iter(shares))
        return {rate: (tax if rate == first else Decimal(0)) for rate in shares}
    spread = {rate: round_money(tax * share / total, places) for rate, share in shares.items()}
    largest = max(shares, key=lambda rate: shares[rate])
    spread[largest] += tax - sum(spread.values())
    return spread


def _customer(snapshot: dict, email: str) -> list[str]:
    name = snapshot.get("company") or snapshot.get("name") or ""
    return [
        _text(name),
        _text(email),
        _text(snapshot.get("country")),
        _text(snapshot.get("vat_id")),
    ]


CUSTOMER_COLUMNS = ["customer", "email", "country", "VAT id"]


def _write(head: list[str], rows: Iterable[list[str]]) -> Iterator[str]:
    """The CSV text, line by line."""

    class Line:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Line())
    yield writer.writerow(head)
    for row in rows:
        yield writer.writerow(row)


def invoices_csv(days: DayRange) -> Iterator[str]:
    """Invoices issued in ``days``, oldest first."""
    invoices = list(
        Invoice.objects.filter(invoiced_at__gte=days.start, invoiced_at__lt=days.end)
        .select_related("user")
        .prefetch_related(Prefetch("lines", queryset=InvoiceLine.objects.order_by("position")))
        .order_by("invoiced_at", "invoice_number")
    )
    places = currency_places_by_code()
    taxes = {invoice.pk: _tax_by_rate(invoice.lines.all()) for invoice in invoices}
    rates = sorted({rate for found in taxes.values() for rate in found})
    head = [
        "number",
        "type",
        "invoice date",
        "due date",
        "paid date",
        *CUSTOMER_COLUMNS,
        "net",
        *[_rate_label(rate) for rate in rates],
        "tax",
        "gross",
        "refunded",
        "currency",
        "status",
    ]

    def rows():
        for invoice in invoices:
            place = places[invoice.currency]
            found = taxes[invoice.pk]
            yield [
                invoice.invoice_number,
                invoice.invoice_type,
                _day(invoice.invoiced_at),
                _day(invoice.due_date),
                _day(invoice.paid_at),
                *_customer(invoice.billing_address or {}, invoice.user.email),
                format_money(invoice.subtotal, place),
                *[format_money(found[rate], place) if rate in found else "" for rate in rates],
                format_money(invoice.tax_amount, place),
                format_money(invoice.total_amount, place),
                format_money(invoice.refunded_amount, place),
                invoice.currency,
                invoice.status,
            ]

    return _write(head, rows())


def credit_notes_csv(days: DayRange) -> Iterator[str]:
    """Credit notes issued in ``days``, oldest first."""
    notes = list(
        CreditNote.objects.filter(created_at__gte=days.start, created_at__lt=days.end)
        .select_related("invoice", "user")
        .prefetch_related("invoice__lines")
        .order_by("created_at", "credit_note_number")
    )
    places = currency_places_by_code()
    taxes = {
        note.pk: _spread(
            note.tax_amount,
            _tax_by_rate(note.invoice.lines.all()),
            places[note.currency],
        )
        for note in notes
    }
    rates = sorted({rate for found in taxes.values() for rate in found})
    head = [
        "number",
        "credit note date",
        "invoice number",
        "invoice date",
        *CUSTOMER_COLUMNS,
        "net",
        *[_rate_label(rate) for rate in rates],
        "tax",
        "gross",
        "currency",
        "kind",
        "refund reference",
    ]

    def rows():
        for note in notes:
            place = places[note.currency]
            found = taxes[note.pk]
            yield [
                note.credit_note_number,
                _day(note.created_at),
                note.invoice.invoice_number,
                _day(note.invoice.invoiced_at),
                *_customer(note.invoice.billing_address or {}, note.user.email),
                format_money(note.net_amount, place),
                *[format_money(found[rate], place) if rate in found else "" for rate in rates],
                format_money(note.tax_amount, place),
                format_money(note.amount, place),
                note.currency,
                "full refund" if note.full_refund else "partial refund",
                _text(note.refund_reference),
            ]

    return _write(head, rows())


def payments_csv(days: DayRange) -> Iterator[str]:
    """Payments received (captured) in ``days``, oldest first."""
    payments = list(
        Payment.objects.filter(captured_at__gte=days.start, captured_at__lt=days.end)
        .select_related("invoice", "user")
        .order_by("captured_at", "pk")
    )
    places = currency_places_by_code()
    head = [
        "invoice number",
        "received date",
        "created date",
        *CUSTOMER_COLUMNS,
        "gateway",
        "provider reference",
        "gross",
        "refunded",
        "currency",
        "status",
    ]

    def rows():
        for payment in payments:
            place = places[payment.currency]
            yield [
                payment.invoice.invoice_number,
                _day(payment.captured_at),
                _day(payment.created_at),
                *_customer(payment.invoice.billing_address or {}, payment.user.email),
                payment.gateway,
                _text(payment.external_id),
                format_money(payment.amount, place),
                format_money(payment.refunded_amount, place),
                payment.currency,
                payment.status,
            ]

    return _write(head, rows())
