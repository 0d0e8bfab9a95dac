"""Recording a refund on a locked, paid invoice: payment and invoice amounts, a numbered credit
note and, when the refund completes the invoice, the reversal of every line and the claw-back of
the tokens it granted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from audit.services import audit_record
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places
from billing.invoices import lines as line_registry
from billing.invoices.extensions import token_ledger
from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from billing.invoices.pdf_store import pdfs_store_on_commit
from billing.invoices.services.capture import MANUAL_GATEWAY, ZERO_GATEWAY
from billing.invoices.services.numbering import CREDIT_NOTE_SERIES, number_allocate
from billing.invoices.signals import payment_refunded
from vbwd.exceptions import (
    NotFound,
)
from vbwd.money import round_money

DEFAULT_REFUND_REFERENCE = "ADMIN_REFUND"
# Gateways that are not plugins: nothing to call, the money moved outside the system.
OFFLINE_GATEWAYS = (MANUAL_GATEWAY, ZERO_GATEWAY)
ZERO = Decimal(0)


@dataclass(frozen=True)
class RefundOutcome:
    invoice: Invoice
    credit_note: CreditNote
    payment: Payment | None
    tokens_clawed_back: int
    token_shortfall: int
    full_refund: bool


def _earlier_credit_notes(invoice: Invoice) -> dict:
    """Sums over the invoice's credit notes still in force (a reversed one was undone)."""
    sums = CreditNote.objects.filter(invoice=invoice, reversed_at__isnull=True).aggregate(
        net=Sum("net_amount"), tax=Sum("tax_amount"), tokens=Sum("tokens_clawed_back")
    )
    return {
        "net": sums["net"] or ZERO,
        "tax": sums["tax"] or ZERO,
        "tokens": int(sums["tokens"] or 0),
    }


def _tokens_to_claw_back(invoice: Invoice, lines: list[InvoiceLine]) -> int:
    """Tokens the invoice's lines granted, less what credit notes in force already took back."""
    ledger = token_ledger()
    if ledger is None or not lines:
        return 0
    granted = ledger.granted(invoice.user, [line_registry.activation_key(line) for line in lines])
    return max(granted - _earlier_credit_notes(invoice)["tokens"], 0)


def _split(
    invoice: Invoice, amount: Decimal, *, full: bool, places: int
) -> tuple[Decimal, Decimal]:
    """(net, tax) of a refund. The refund that completes the invoice takes exactly what earlier
    credit notes left, so the credit notes of an invoice add up to its subtotal and tax."""
    if full:
        earlier = _earlier_credit_notes(invoice)
        return invoice.subtotal - earlier["net"], invoice.tax_amount - earlier["tax"]
    tax = round_money(amount * invoice.tax_amount / invoice.total_amount, places)
    return amount - tax, tax


@dataclass(frozen=True)
class _Request:
    """What was asked, carried from the checks to the recording."""

    amount: Decimal
    reason: str | None
    reference: str | None
    force: bool
    actor: object
    actor_type: str | None
    actor_label: str | None
    provider_initiated: bool
    customer_reason: str | None = None


def _locked_paid_invoice(invoice_id) -> Invoice:
    invoice = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(pk=invoice_id)
        .first()
    )
    if invoice is None:
        raise NotFound("Invoice not found")
    return invoice


def _pending_claim(invoice: Invoice) -> Refund | None:
    """The invoice's refund claim still waiting for the provider's answer (at most one)."""
    return (
        Refund.objects.select_for_update()
        .filter(invoice=invoice, status=RefundStatus.PENDING)
        .order_by("created_at")
        .first()
    )


def _refund_record(
    invoice: Invoice, payment: Payment | None, request: _Request, *, lines=None
) -> RefundOutcome:
    """Records a refund on the locked, PAID invoice: payment and invoice amounts, a numbered
    credit note and, when it completes the invoice, the reversal of every line and the token
    claw-back; audit rows; ``payment_refunded`` after commit."""
    places = currency_places(invoice.currency)
    amount = request.amount
    actor, actor_type, actor_label = request.actor, request.actor_type, request.actor_label
    reason = request.reason
    lines = list(invoice.lines.all()) if lines is None else lines
    full = invoice.refunded_amount + amount == invoice.total_amount
    reference = request.reference
    if reference is None and not request.provider_initiated:
        reference = DEFAULT_REFUND_REFERENCE
    now = timezone.now()

    payment_before = None
    if payment is not None:
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        payment_before = {
            "status": payment.status,
            "refunded_amount": format_money(payment.refunded_amount, places),
        }
        payment.refund(amount)
        payment.save(update_fields=["refunded_amount", "status", "updated_at"])

    net, tax = _split(invoice, amount, full=full, places=places)
    credit_note_id = uuid.uuid4()
    number = number_allocate(series=CREDIT_NOTE_SERIES, year=now.year)

    invoice_before = {
        "status": invoice.status,
        "refunded_amount": format_money(invoice.refunded_amount, places),
    }
    invoice.refund(amount, at=now)
    invoice.save(update_fields=["status", "refunded_amount", "refunded_at", "updated_at"])

    reversal_data: dict[str, dict] = {}
    tokens_clawed_back = token_shortfall = 0
    if full:
        context = line_registry.LineContext(
            invoice=invoice,
            now=now,
            actor=actor,
            actor_type=actor_type,
            actor_label=actor_label,
            reason=reason,
        )
        for line in lines:
            reversal_data[str(line.pk)] = line_registry.handler_for(line.type).reverse(
                line, context
            )
        ledger = token_ledger()
        needed = _tokens_to_claw_back(invoice, lines)
        if ledger is not None and needed > 0:
            tokens_clawed_back = ledger.claw_back(
                user=invoice.user,
                amount=needed,
                description=f"Refund of {invoice.invoice_number}",
                reference_id=credit_note_id,
                key=f"credit-note:{credit_note_id}",
            )
            token_shortfall = needed - tokens_clawed_back

    credit_note = CreditNote.objects.create(
        id=credit_note_id,
        credit_note_number=number,
        invoice=invoice,
        user=invoice.user,
        payment=payment,
        currency=invoice.currency,
        net_amount=net,
        tax_amount=tax,
        amount=amount,
        reason=reason,
        customer_reason=request.customer_reason,
        refund_reference=reference,
        full_refund=full,
        created_by=actor if actor is not None and not request.provider_initiated else None,
        reversal_data=reversal_data,
        tokens_clawed_back=tokens_clawed_back,
        token_shortfall=token_shortfall,
    )

    money = f"{format_money(amount, places)} {invoice.currency}"
    audit_common = {
        "subject_user_id": invoice.user_id,
        "actor": actor,
        "actor_type": actor_type,
        "actor_label": actor_label,
        "reason": reason,
    }
    audit_record(
        action="invoice.refunded" if full else "invoice.partially_refunded",
        object_type="invoice",
        object_id=invoice.pk,
        summary=(
            f"Invoice {invoice.invoice_number} {'refunded' if full else 'partially refunded'}:"
            f" {money} (credit note {number})"
        ),
        before=invoice_before,
        after={
            "status": invoice.status,
            "refunded_amount": format_money(invoice.refunded_amount, places),
        },
        **audit_common,
    )
    if payment is not None:
        audit_record(
            action=(
                "payment.refunded"
                if payment.status == PaymentStatus.REFUNDED
                else "payment.partially_refunded"
            ),
            object_type="payment",
            object_id=payment.pk,
            summary=f"Payment via {payment.gateway} for {invoice.invoice_number}: {money} "
            f"refunded" + (f" ({reference})" if reference else ""),
            before=payment_before,
            after={
                "status": payment.status,
                "refunded_amount": format_money(payment.refunded_amount, places),
            },
            **audit_common,
        )
    token_note = ""
    if full:
        token_note = f", {tokens_clawed_back} tokens clawed back"
        if token_shortfall:
            token_note += f" ({token_shortfall} short)"
    audit_record(
        action="credit_note.issued",
        object_type="credit_note",
        object_id=credit_note.pk,
        summary=f"Credit note {number} for {invoice.invoice_number}: {money}{token_note}",
        after={
            "amount": str(amount),
            "net_amount": str(net),
            "tax_amount": str(tax),
            "full_refund": full,
            "refund_reference": reference,
            "tokens_clawed_back": tokens_clawed_back,
            "token_shortfall": token_shortfall,
        },
        **audit_common,
    )
    # The credit note is new; the invoice now prints its refund.
    pdfs_store_on_commit(invoice_ids=[invoice.pk], credit_note_ids=[credit_note.pk])
    payment_refunded.send_on_commit(
        sender=Invoice,
        invoice=invoice,
        credit_note=credit_note,
        payment=payment,
        full_refund=full,
    )
    return RefundOutcome(
        invoice=invoice,
        credit_note=credit_note,
        payment=payment,
        tokens_clawed_back=tokens_clawed_back,
        token_shortfall=token_shortfall,
        full_refund=full,
    )
