"""Duplicating an invoice: a new MANUAL invoice that bills the same amounts again."""

from __future__ import annotations

import dataclasses

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing.catalog.models import Currency, PaymentMethod
from billing.invoices.models import Invoice, InvoiceType, LineType
from billing.invoices.services.issuing import LineDraft, invoice_issue, treatment_for
from vbwd.exceptions import NotFound


def invoice_duplicate(*, invoice_id, actor) -> Invoice:
    """Issues a PENDING MANUAL invoice to the same user in the same currency and payment method,
    with a new number, fresh snapshots and due date, whose lines are CUSTOM copies (description,
    quantity, net unit price, tax rate) without purchase links, so paying it activates nothing."""
    with transaction.atomic():
        original = (
            Invoice.objects.select_related("user").prefetch_related("lines").filter(pk=invoice_id)
        ).first()
        if original is None:
            raise NotFound("Invoice not found")
        currency = Currency.objects.get(code=original.currency)
        method = (
            PaymentMethod.objects.filter(code=original.payment_method).first()
            if original.payment_method
            else None
        )  # a method deleted since leaves the copy without one (the default applies at payment)
        drafts = [
            LineDraft(
                type=LineType.CUSTOM,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                price_is_net=True,
                tax_rate=line.tax_rate,
                tax_name=line.tax_name,
            )
            for line in original.lines.all()
        ]
        now = timezone.now()
        # The copied lines keep the original rates, so the invoice keeps the original's
        # reverse-charge statement with them (a 0 % line needs its explanation on the PDF).
        treatment = dataclasses.replace(
            treatment_for(original.user, on=now.date()), reverse_charge=original.reverse_charge
        )
        duplicate = invoice_issue(
            user=original.user,
            invoice_type=InvoiceType.MANUAL,
            currency=currency,
            drafts=drafts,
            payment_method=method,
            treatment=treatment,
            actor=actor,
            now=now,
        )
        audit_record(
            action="invoice.duplicated",
            object_type="invoice",
            object_id=duplicate.pk,
            subject_user_id=original.user_id,
            summary=(
                f"Invoice {duplicate.invoice_number} duplicated from {original.invoice_number}"
            ),
            actor=actor,
            after={
                "source_invoice_id": str(original.pk),
                "source_invoice_number": original.invoice_number,
                "invoice_number": duplicate.invoice_number,
            },
        )
    return duplicate
