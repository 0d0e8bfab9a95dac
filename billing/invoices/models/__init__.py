"""Invoices, their lines, payments, credit notes, number sequences and inbound provider events.

An issued invoice is a legal record: its lines, amounts and buyer/seller snapshots never change and
it is never deleted. The model refuses both through the ORM (``save`` of a changed immutable field,
``QuerySet.update`` of one, any ``delete``); only the lifecycle fields listed in
``Invoice.MUTABLE_FIELDS`` move, and only through ``billing.invoices.services``.

Money: ``Decimal(14, 4)`` in the invoice's ``currency``: a currency has 0 to 4 decimal places,
and every amount is rounded to its currency's places (ROUND_HALF_UP, per line; totals are sums of
the lines). Read-back values carry four places; format them with
``billing.catalog.pricing.format_money`` for people.
"""

from billing.invoices.models.base import (
    MONEY,
    ImmutableModel,
    ImmutableQuerySet,
    ImmutableRecordError,
)
from billing.invoices.models.events import ProviderEvent, ProviderEventStatus
from billing.invoices.models.invoices import (
    OPEN_STATUSES,
    TRANSITIONS,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    LineType,
    NumberSequence,
)
from billing.invoices.models.payments import (
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    SETTLED_PAYMENT_STATUSES,
    CreditNote,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)

__all__ = [
    "MONEY",
    "OPEN_STATUSES",
    "PAYMENT_TRANSITIONS",
    "REFUND_TRANSITIONS",
    "SETTLED_PAYMENT_STATUSES",
    "TRANSITIONS",
    "CreditNote",
    "ImmutableModel",
    "ImmutableQuerySet",
    "ImmutableRecordError",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "InvoiceType",
    "LineType",
    "NumberSequence",
    "Payment",
    "PaymentStatus",
    "ProviderEvent",
    "ProviderEventStatus",
    "Refund",
    "RefundStatus",
]
