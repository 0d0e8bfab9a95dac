"""What needs staff's attention on the back office's index: overdue invoices, renewal charges
that failed, subscriptions past due and invoices whose payment waits for review; and the
overdue and review figures of a period. A constant number of queries whatever the data.

Each list is the newest rows of a back-office list filtered the same way: ``changelist_query``
is the filter of that list, so "see all" opens exactly the rows counted.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from billing.invoices.models import (
    OPEN_STATUSES,
    Invoice,
    InvoiceStatus,
    InvoiceType,
    Payment,
    PaymentStatus,
)
from billing.subscriptions.models import Subscription, SubscriptionStatus

LIST_SIZE = 10


@dataclass(frozen=True)
class AttentionList:
    key: str
    title: str
    changelist: str  # the admin URL name of the list
    changelist_query: dict[str, str]
    rows: list
    count: int


def overdue_invoices() -> QuerySet:
    return Invoice.objects.filter(status=InvoiceStatus.OVERDUE)


def failed_renewal_charges() -> QuerySet:
    """Failed charges of renewal invoices that are still unpaid."""
    return Payment.objects.filter(
        status=PaymentStatus.FAILED,
        invoice__invoice_type=InvoiceType.RENEWAL,
        invoice__status__in=OPEN_STATUSES,
    )


def past_due_subscriptions() -> QuerySet:
    return Subscription.objects.filter(status=SubscriptionStatus.PAST_DUE)


def invoices_needing_review() -> QuerySet:
    """Invoices with a capture that did not match (amount, currency or state)."""
    return Invoice.objects.filter(needs_review=True)


def attention_lists(size: int = LIST_SIZE) -> list[AttentionList]:
    """The four lists, each its newest ``size`` rows and its count: eight queries."""
    specs = (
        (
            "overdue_invoices",
            "Overdue invoices",
            "admin:invoices_invoice_changelist",
            {"status__exact": InvoiceStatus.OVERDUE},
            overdue_invoices().select_related("user").order_by("due_date", "invoice_number"),
        ),
        (
            "failed_renewal_charges",
            "Failed renewal charges",
            "admin:invoices_payment_changelist",
            {
                "status__exact": PaymentStatus.FAILED,
                "invoice__invoice_type__exact": InvoiceType.RENEWAL,
                "invoice__status__in": ",".join(OPEN_STATUSES),
            },
            failed_renewal_charges().select_related("user", "invoice").order_by("-created_at"),
        ),
        (
            "past_due_subscriptions",
            "Subscriptions past due",
            "admin:subscriptions_subscription_changelist",
            {"status__exact": SubscriptionStatus.PAST_DUE},
            past_due_subscriptions().select_related("user", "plan").order_by("expires_at"),
        ),
        (
            "invoices_needing_review",
            "Payments needing review",
            "admin:invoices_invoice_changelist",
            {"needs_review__exact": "1"},
            invoices_needing_review().select_related("user").order_by("-invoiced_at"),
        ),
    )
    return [
        AttentionList(
            key=key,
            title=title,
            changelist=changelist,
            changelist_query=query,
            rows=list(rows[:size]),
            count=rows.order_by().count(),
        )
        for key, title, changelist, query, rows in specs
    ]


def _overdue_at(moment: datetime.datetime) -> Q:
    """Unpaid past its due date at ``moment``: issued and due before it, neither paid nor
    voided by then, and not a failed invoice (which can no longer be paid)."""
    return (
        Q(invoiced_at__lt=moment, due_date__lt=moment)
        & (Q(paid_at__isnull=True) | Q(paid_at__gte=moment))
        & (Q(cancelled_at__isnull=True) | Q(cancelled_at__gte=moment))
    )


def overdue_and_review(moments: dict[str, datetime.datetime]) -> dict:
    """For each moment (key → when): the overdue amounts by currency (``{code: Decimal}``)
    and the number of invoices issued by then that wait for review. Two queries."""
    invoices = Invoice.objects.order_by().exclude(status=InvoiceStatus.FAILED)
    overdue_rows = list(
        invoices.values("currency").annotate(
            **{
                key: Sum("total_amount", filter=_overdue_at(moment))
                for key, moment in moments.items()
            }
        )
    )
    review = Invoice.objects.order_by().aggregate(
        **{
            key: Count("pk", filter=Q(needs_review=True, invoiced_at__lt=moment))
            for key, moment in moments.items()
        }
    )
    return {
        key: {
            "overdue": {
                row["currency"]: Decimal(row[key]) for row in overdue_rows if row[key] is not None
            },
            "needs_review": review[key],
        }
        for key in moments
    }
