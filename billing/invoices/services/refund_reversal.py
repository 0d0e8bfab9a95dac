"""The provider undid a refund: the credit note is marked reversed and what it refunded is taken
back.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.models import ActorType
from audit.services import audit_record
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places
from billing.invoices import lines as line_registry
from billing.invoices.extensions import token_ledger
from billing.invoices.models import (
    CreditNote,
    Invoice,
    Payment,
)
from billing.invoices.signals import refund_reversed
from vbwd.exceptions import (
    NotFound,
)


def invoice_refund_reverse(
    *,
    credit_note_id,
    actor=None,
    actor_type: str | None = ActorType.PROVIDER,
    actor_label: str | None = None,
) -> CreditNote:
    """The provider undid a refund: the credit note is marked reversed, the invoice and payment
    take the amount back (REFUNDED → PAID) and, for a full refund, every line is restored and the
    clawed-back tokens are re-credited. Idempotent; ``refund_reversed`` after commit."""
    invoice_id = (
        CreditNote.objects.filter(pk=credit_note_id).values_list("invoice_id", flat=True).first()
    )
    if invoice_id is None:
        raise NotFound("Credit note not found")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        credit_note = CreditNote.objects.select_for_update().get(pk=credit_note_id)
        if credit_note.reversed_at is not None:
            return credit_note
        now = timezone.now()
        places = currency_places(invoice.currency)
        money = f"{format_money(credit_note.amount, places)} {invoice.currency}"
        audit_common = {
            "subject_user_id": invoice.user_id,
            "actor": actor,
            "actor_type": actor_type,
            "actor_label": actor_label,
        }

        invoice_before = {
            "status": invoice.status,
            "refunded_amount": format_money(invoice.refunded_amount, places),
        }
        invoice.reverse_refund(
            credit_note.amount,
            full_refund=credit_note.full_refund,
            last_refunded_at=(
                CreditNote.objects.filter(invoice=invoice, reversed_at__isnull=True)
                .exclude(pk=credit_note.pk)
                .aggregate(last=Max("created_at"))["last"]
            ),
        )
        invoice.save(update_fields=["status", "refunded_amount", "refunded_at", "updated_at"])
        audit_record(
            action="invoice.refund_reversed",
            object_type="invoice",
            object_id=invoice.pk,
            summary=(
                f"Refund {credit_note.credit_note_number} of {invoice.invoice_number} ({money}) "
                "reversed by the provider"
            ),
            before=invoice_before,
            after={
                "status": invoice.status,
                "refunded_amount": format_money(invoice.refunded_amount, places),
            },
            **audit_common,
        )

        if credit_note.payment_id is not None:
            payment = Payment.objects.select_for_update().get(pk=credit_note.payment_id)
            payment_before = {
                "status": payment.status,
                "refunded_amount": format_money(payment.refunded_amount, places),
            }
            payment.reverse_refund(credit_note.amount)
            payment.save(update_fields=["refunded_amount", "status", "updated_at"])
            audit_record(
                action="payment.refund_reversed",
                object_type="payment",
                object_id=payment.pk,
                summary=(f"Refund of {money} on the payment for {invoice.invoice_number} reversed"),
                before=payment_before,
                after={
                    "status": payment.status,
                    "refunded_amount": format_money(payment.refunded_amount, places),
                },
                **audit_common,
            )

        if credit_note.full_refund:
            context = line_registry.LineContext(
                invoice=invoice,
                now=now,
                actor=actor,
                actor_type=actor_type,
                actor_label=actor_label,
            )
            for line in invoice.lines.all():
                data = credit_note.reversal_data.get(str(line.pk)) or {}
                line_registry.handler_for(line.type).restore(line, context, data)
            ledger = token_ledger()
            if ledger is not None and credit_note.tokens_clawed_back > 0:
                ledger.recredit(
                    user=invoice.user,
                    amount=credit_note.tokens_clawed_back,
                    description=f"Refund of {invoice.invoice_number} reversed",
                    reference_id=credit_note.pk,
                    key=f"refund-reversal:{credit_note.pk}",
                )

        credit_note.reversed_at = now
        credit_note.save(update_fields=["reversed_at"])
        audit_record(
            action="credit_note.reversed",
            object_type="credit_note",
            object_id=credit_note.pk,
            summary=(
                f"Credit note {credit_note.credit_note_number} reversed"
                + (
                    f": {credit_note.tokens_clawed_back} tokens re-credited"
                    if credit_note.full_refund
                    else ""
                )
            ),
            before={"reversed_at": None},
            after={"reversed_at": now.isoformat()},
            **audit_common,
        )
        refund_reversed.send_on_commit(sender=Invoice, invoice=invoice, credit_note=credit_note)
    return credit_note
