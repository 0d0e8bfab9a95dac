"""Invoices as financial records of an account, and what anonymisation does to them."""

from __future__ import annotations

from django.dispatch import receiver

from accounts import extensions as account_extensions
from billing.catalog import extensions as catalog_extensions
from billing.invoices.models import (
    OPEN_STATUSES,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
)


def _financial_records(user) -> account_extensions.FinancialRecords:
    return account_extensions.FinancialRecords(
        invoice_count=Invoice.objects.filter(user=user).count(),
        payment_count=Payment.objects.filter(user=user).count(),
        credit_note_count=CreditNote.objects.filter(user=user).count(),
    )


def _paid_invoice_count(user) -> int:
    return Invoice.objects.filter(user=user, status=InvoiceStatus.PAID).count()


def _plan_usage(plan) -> int:
    return InvoiceLine.objects.filter(catalog_item_id=plan.pk).count()


def _currency_usage(currency) -> int:
    return Invoice.objects.filter(currency=currency.code).count()


def _payment_method_usage(method) -> int:
    return Invoice.objects.filter(payment_method=method.code, status__in=OPEN_STATUSES).count()


def register_account_hooks() -> None:
    """Invoices are financial records of an account and keep catalog rows they name."""
    account_extensions.FINANCIAL_RECORDS.register(_financial_records)
    account_extensions.PAID_INVOICE_COUNT.register(_paid_invoice_count)
    catalog_extensions.PLAN_USAGE.register(_plan_usage)
    catalog_extensions.ADDON_USAGE.register(_plan_usage)
    catalog_extensions.CURRENCY_USAGE.register(_currency_usage)
    catalog_extensions.PAYMENT_METHOD_USAGE.register(_payment_method_usage)


@receiver(account_extensions.user_anonymising, dispatch_uid="invoices.void_open_on_anonymise")
def void_open_invoices(sender, user, actor=None, **kwargs) -> None:
    """Anonymisation voids the user's PENDING/OVERDUE invoices, in its transaction."""
    from billing.invoices.services import invoice_void

    open_ids = Invoice.objects.filter(user=user, status__in=OPEN_STATUSES).values_list(
        "pk", flat=True
    )
    for invoice_id in list(open_ids):
        invoice_void(invoice_id=invoice_id, actor=actor, reason="Account anonymised")
