"""Invoice reads shared by the user and admin endpoints, with the prefetches that keep the query
count of a list or a detail constant in the number of invoices, lines, payments and credit notes.
"""

from __future__ import annotations

import datetime
import uuid

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from billing.catalog.models import Currency
from billing.catalog.selectors import currency_places, currency_places_table
from billing.invoices.models import CreditNote, Invoice, InvoiceLine, Payment
from vbwd.exceptions import NotFound

NOT_FOUND = "Invoice not found"


class PlacesByCode(dict):
    """``{currency code: decimal places}``; a code the table does not know is answered, once, by
    ``billing.catalog.selectors.currency_places``."""

    def __missing__(self, code: str) -> int:
        places = self[code] = currency_places(code)
        return places


def currency_places_by_code(currencies: dict | None = None) -> PlacesByCode:
    """The decimal places of every currency, in one query (none when the caller read
    ``currencies_by_code`` already): for rendering many amounts."""
    if currencies is None:
        return PlacesByCode(currency_places_table())
    return PlacesByCode((code, currency.decimal_places) for code, currency in currencies.items())


def _uuid(value) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(NOT_FOUND) from None


def invoices_base(*, detail: bool = False, with_user: bool = False) -> QuerySet[Invoice]:
    """Invoices with their lines; ``detail`` adds payments and credit notes, ``with_user`` the
    user and billing details (admin shapes: user_email, user_name)."""
    queryset = Invoice.objects.prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.order_by("position"))
    )
    if detail:
        queryset = queryset.prefetch_related(
            Prefetch("payments", queryset=Payment.objects.order_by("-created_at", "-pk")),
            Prefetch(
                "credit_notes",
                queryset=CreditNote.objects.order_by("created_at", "credit_note_number"),
            ),
        )
    if with_user:
        queryset = queryset.select_related("user", "user__details")
    return queryset


def invoices_for_user(user, *, status: str | None = None) -> QuerySet[Invoice]:
    """The user's invoices, newest ``invoiced_at`` first, optionally of one status."""
    queryset = invoices_base().filter(user=user)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-invoiced_at", "-invoice_number")


def invoice_for_user(user, invoice_id, *, detail: bool = True) -> Invoice:
    """The user's invoice (``user`` is a user or its id); 404 "Invoice not found" for an unknown
    id and another user's alike."""
    user_id = getattr(user, "pk", user)
    invoice = invoices_base(detail=detail).filter(pk=_uuid(invoice_id), user_id=user_id).first()
    if invoice is None:
        raise NotFound(NOT_FOUND)
    return invoice


def invoices_for_staff() -> QuerySet[Invoice]:
    """Every invoice with lines, user and billing details (admin lists)."""
    return invoices_base(with_user=True)


def period_filter(queryset: QuerySet, field: str, *, date_from=None, date_to=None) -> QuerySet:
    """Rows whose ``field`` lies in the period: a date bound is the whole UTC day, inclusive; a
    datetime bound is exact and inclusive."""
    for value, end in ((date_from, False), (date_to, True)):
        if value is None:
            continue
        if isinstance(value, datetime.datetime):
            lookup, moment = ("lte" if end else "gte"), value
        else:
            start = datetime.datetime.combine(value, datetime.time.min, tzinfo=datetime.UTC)
            if end:
                lookup, moment = "lt", start + datetime.timedelta(days=1)
            else:
                lookup, moment = "gte", start
        queryset = queryset.filter(**{f"{field}__{lookup}": moment})
    return queryset


def invoices_for_staff_filtered(
    *,
    status: str | None = None,
    user_id: uuid.UUID | None = None,
    invoice_type: str | None = None,
    payment_method: str | None = None,
    needs_review: bool | None = None,
    search: str | None = None,
    date_from=None,
    date_to=None,
    ordering: str = "-invoiced_at",
) -> QuerySet[Invoice]:
    """The staff invoice list: every filter given, in ``ordering`` (``-`` descending) with the
    invoice number breaking ties."""
    invoices = invoices_for_staff()
    if status:
        invoices = invoices.filter(status=status)
    if user_id:
        invoices = invoices.filter(user_id=user_id)
    if invoice_type:
        invoices = invoices.filter(invoice_type=invoice_type)
    if payment_method:
        invoices = invoices.filter(payment_method__iexact=payment_method)
    if needs_review is not None:
        invoices = invoices.filter(needs_review=needs_review)
    if search:
        invoices = invoices.filter(
            Q(invoice_number__icontains=search) | Q(user__email__icontains=search)
        )
    invoices = period_filter(invoices, "invoiced_at", date_from=date_from, date_to=date_to)
    tie_break = "-invoice_number" if ordering.startswith("-") else "invoice_number"
    order = [ordering] if ordering.lstrip("-") == "invoice_number" else [ordering, tie_break]
    return invoices.order_by(*order)


def credit_notes_for_staff(
    *,
    user_id: uuid.UUID | None = None,
    invoice_id: uuid.UUID | None = None,
    date_from=None,
    date_to=None,
) -> QuerySet[CreditNote]:
    """The staff credit-note list, newest first, with each note's invoice."""
    notes = CreditNote.objects.select_related("invoice")
    if user_id:
        notes = notes.filter(user_id=user_id)
    if invoice_id:
        notes = notes.filter(invoice_id=invoice_id)
    notes = period_filter(notes, "created_at", date_from=date_from, date_to=date_to)
    return notes.order_by("-created_at", "-credit_note_number")


def invoice_currency_for_staff(invoice_id) -> tuple[uuid.UUID, str, int]:
    """(id, currency, the currency's decimal places) of any invoice (admin), in one query;
    404 "Invoice not found". A currency the table does not know has 2 places."""
    places = Currency.objects.filter(code=OuterRef("currency")).values("decimal_places")[:1]
    row = (
        Invoice.objects.filter(pk=_uuid(invoice_id))
        .annotate(currency_places=Subquery(places))
        .values_list("pk", "currency", "currency_places")
        .first()
    )
    if row is None:
        raise NotFound(NOT_FOUND)
    pk, currency, currency_places_ = row
    return pk, currency, 2 if currency_places_ is None else currency_places_


def invoice_for_staff(invoice_id, *, detail: bool = True) -> Invoice:
    """Any invoice by id (admin); 404 "Invoice not found"."""
    invoice = invoices_base(detail=detail, with_user=True).filter(pk=_uuid(invoice_id)).first()
    if invoice is None:
        raise NotFound(NOT_FOUND)
    return invoice
