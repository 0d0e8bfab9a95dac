"""Capture: the one path that marks an invoice PAID, and failed payment attempts."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from audit.services import audit_batch, audit_record
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places_for_text, currency_places_subquery
from billing.invoices import lines as line_registry
from billing.invoices.models import Invoice, InvoiceLine, InvoiceStatus, Payment, PaymentStatus
from billing.invoices.signals import payment_captured, payment_failed, payment_method_saved
from plugins.signals import domain_events_batch
from vbwd.bulk import insert_unless_conflict
from vbwd.exceptions import InvalidTransition, ValidationFailed

ZERO_GATEWAY = "zero"
ZERO_REFERENCE = "zero-price"
MANUAL_GATEWAY = "manual"
# Staff references ("MANUAL", a transfer id) and "zero-price" repeat across invoices.
INVOICE_SCOPED_GATEWAYS = (ZERO_GATEWAY, MANUAL_GATEWAY)


class CaptureOutcome(enum.StrEnum):
    CAPTURED = "captured"  # this call marked the invoice PAID
    ALREADY_CAPTURED = "already_captured"  # the same payment captured it before (idempotent)
    ALREADY_PAID = "already_paid"  # PAID by another payment; recorded and flagged for staff
    MISMATCH = "mismatch"  # amount or currency differ; recorded and flagged for staff
    NOT_PAYABLE = "not_payable"  # CANCELLED / FAILED / REFUNDED; recorded and flagged


@dataclass(frozen=True)
class CaptureResult:
    outcome: CaptureOutcome
    invoice: Invoice
    payment: Payment

    @property
    def paid(self) -> bool:
        return self.outcome in (CaptureOutcome.CAPTURED, CaptureOutcome.ALREADY_CAPTURED)


def _locked_invoice(invoice_id) -> Invoice:
    return Invoice.objects.select_for_update(of=("self",)).get(pk=invoice_id)


def _money(amount, currency: str, invoice: Invoice | None = None) -> str:
    """``"11.90 EUR"`` for audit summaries and review reasons; the places of the invoice's
    currency when its query read them (``currency_places``)."""
    places = getattr(invoice, "currency_places", None)
    if places is None or currency != invoice.currency:
        places = currency_places_for_text(currency)
    return f"{format_money(amount, places)} {currency}"


def _new_payment(*, invoice, gateway, external_id, amount, currency, provider_data, paid_at):
    """The row of a payment seen for the first time, already captured: written with one insert
    when nothing recorded it before (``_inserted_or_known``)."""
    payment = Payment(
        invoice=invoice,
        user_id=invoice.user_id,
        gateway=gateway,
        external_id=external_id,
        amount=amount,
        currency=currency,
        status=PaymentStatus.PENDING,
        provider_data=provider_data or {},
    )
    payment.capture(at=paid_at)
    return payment


def _inserted_or_known(payment: Payment) -> tuple[Payment, bool]:
    """``payment`` inserted, or, when (gateway, external id) was recorded before (also by a
    concurrent capture that committed meanwhile), that row locked; True when inserted."""
    if insert_unless_conflict(payment):
        return payment, True
    lookup = {"gateway": payment.gateway, "external_id": payment.external_id}
    if payment.gateway in INVOICE_SCOPED_GATEWAYS:
        lookup["invoice_id"] = payment.invoice_id
    return Payment.objects.select_for_update().get(**lookup), False


def _reference(payment: Payment) -> str:
    """``payment_ref`` of the invoice this payment captures."""
    return payment.external_id or str(payment.pk)


def _flag(invoice: Invoice, reason: str, *, actor, actor_type, actor_label) -> None:
    invoice.needs_review = True
    invoice.review_reason = reason[:500]
    invoice.save(update_fields=["needs_review", "review_reason", "updated_at"])
    audit_record(
        action="invoice.flagged",
        object_type="invoice",
        object_id=invoice.pk,
        subject_user_id=invoice.user_id,
        summary=f"Invoice {invoice.invoice_number} flagged for review: {reason}"[:500],
        actor=actor,
        actor_type=actor_type,
        actor_label=actor_label,
        after={"needs_review": True, "review_reason": reason[:500]},
    )


def invoice_flag(
    *, invoice_id, reason: str, actor=None, actor_type=None, actor_label=None
) -> Invoice:
    """Flags the invoice for staff (``needs_review``) with ``reason``; nothing else changes."""
    with transaction.atomic():
        invoice = _locked_invoice(invoice_id)
        _flag(invoice, reason, actor=actor, actor_type=actor_type, actor_label=actor_label)
    return invoice


def invoice_capture(
    *,
    invoice_id,
    gateway: str,
    external_id: str | None,
    amount: Decimal,
    currency: str,
    provider_data: dict | None = None,
    paid_at: datetime.datetime | None = None,
    payment_id=None,
    actor=None,
    actor_type: str | None = None,
    actor_label: str | None = None,
    reason: str | None = None,
    saved_method=None,
) -> CaptureResult:
    """Records a received payment and, when it matches an open invoice, marks the invoice PAID and
    activates every line in the same transaction; idempotent per (gateway, external id).
    ``payment_captured`` is sent once, after commit. ``saved_method`` (a gateway SavedMethod)
    is handed to ``payment_method_saved`` when the payment pays the invoice."""
    with transaction.atomic(savepoint=False):
        return _captured(
            _locked_invoice(invoice_id),
            gateway=gateway,
            external_id=external_id,
            amount=amount,
            currency=currency,
            provider_data=provider_data,
            paid_at=paid_at,
            payment_id=payment_id,
            actor=actor,
            actor_type=actor_type,
            actor_label=actor_label,
            reason=reason,
            saved_method=saved_method,
        )


def _captured(invoice: Invoice, *, saved_method=None, **capture) -> CaptureResult:
    """``invoice_capture`` of the invoice its caller locked in the running transaction;
    ``capture`` holds the rest of ``invoice_capture``'s arguments."""
    result = _capture(invoice=invoice, **capture)
    if saved_method is not None and result.paid:
        payment_method_saved.send(
            sender=Invoice,
            invoice=result.invoice,
            gateway=capture["gateway"],
            payment_method_id=saved_method.payment_method_id,
            customer_id=saved_method.customer_id,
        )
    return result


def _known_and_claimed(invoice, gateway, external_id, payment_id):
    """Locked in one query: the row of the provider's payment (gateway, external id) if it was
    recorded before, and the claiming payment ``payment_id``. Staff references and
    ``zero-price`` repeat across invoices, so theirs are looked up on this invoice only."""
    wanted = Q(pk=payment_id) if payment_id is not None else Q(pk__in=[])
    if external_id:
        same = Q(gateway=gateway, external_id=external_id)
        if gateway in INVOICE_SCOPED_GATEWAYS:
            same &= Q(invoice=invoice)
        wanted |= same
    elif payment_id is None:
        return None, None
    rows = list(Payment.objects.select_for_update().filter(wanted))
    known = next(
        (
            row
            for row in rows
            if external_id and row.external_id == external_id and row.gateway == gateway
        ),
        None,
    )
    claimed = next((row for row in rows if row.pk == payment_id), None)
    return known, claimed


def _capture(
    *,
    invoice: Invoice,
    gateway,
    external_id,
    amount,
    currency,
    provider_data=None,
    paid_at=None,
    payment_id=None,
    actor=None,
    actor_type=None,
    actor_label=None,
    reason=None,
) -> CaptureResult:
    now = timezone.now()
    paid_at = paid_at or now
    currency = (currency or "").upper()
    # No savepoint of its own: a capture is all or nothing with its caller's transaction. Its
    # audit rows (and those of the lines it activates) go in with one insert, and so do the
    # outbox rows of its events.
    with transaction.atomic(savepoint=False), audit_batch(), domain_events_batch():
        if payment_id is None:
            # No claim: the payment is new unless the provider's id was recorded before (say,
            # by the PaymentIntent's event before the checkout session's), in which case that
            # row is the payment.
            payment, created = _inserted_or_known(
                _new_payment(
                    invoice=invoice,
                    gateway=gateway,
                    external_id=external_id,
                    amount=amount,
                    currency=currency,
                    provider_data=provider_data,
                    paid_at=paid_at,
                )
            )
        else:
            known, claimed = _known_and_claimed(invoice, gateway, external_id, payment_id)
            if known is not None:
                # The provider's payment was recorded before: that row is the payment,
                # whichever claim asks.
                payment, created = known, False
            elif claimed is None or claimed.invoice_id != invoice.pk:
                raise Payment.DoesNotExist(f"Payment {payment_id} of invoice {invoice.pk}")
            else:
                payment, created = claimed, False
        if payment.invoice_id != invoice.pk:
            # The provider payment belongs to another invoice: never pay this one with it.
            _flag(
                invoice,
                f"Payment {external_id} via {gateway} belongs to invoice "
                f"{payment.invoice.invoice_number}",
                actor=actor,
                actor_type=actor_type,
                actor_label=actor_label,
            )
            return CaptureResult(CaptureOutcome.MISMATCH, invoice, payment)
        if created:
            pass  # inserted captured
        elif payment.status != PaymentStatus.PENDING and payment.status != PaymentStatus.FAILED:
            # This provider payment was recorded before (a webhook and a status check, a retry).
            if invoice.payment_ref == _reference(payment):
                return CaptureResult(CaptureOutcome.ALREADY_CAPTURED, invoice, payment)
            if invoice.status == InvoiceStatus.PAID:
                return CaptureResult(CaptureOutcome.ALREADY_PAID, invoice, payment)
            if invoice.is_open:
                return CaptureResult(CaptureOutcome.MISMATCH, invoice, payment)
            return CaptureResult(CaptureOutcome.NOT_PAYABLE, invoice, payment)
        if not created:
            if external_id and payment.external_id != external_id:
                payment.external_id = external_id  # a session's payment gets the provider's id
            payment.amount = amount
            payment.currency = currency
            if provider_data:
                payment.provider_data = provider_data
            payment.capture(at=paid_at)
            payment.save(
                update_fields=[
                    "external_id",
                    "amount",
                    "currency",
                    "provider_data",
                    "status",
                    "captured_at",
                    "failure_reason",
                    "call_started_at",
                    "updated_at",
                ]
            )
        label = f"{_money(amount, currency, invoice)} via {gateway}" + (
            f" ({external_id})" if external_id else ""
        )

        if not invoice.is_open:
            outcome = (
                CaptureOutcome.ALREADY_PAID
                if invoice.status == InvoiceStatus.PAID
                else CaptureOutcome.NOT_PAYABLE
            )
            _flag(
                invoice,
                f"Payment {label} received for an invoice in status {invoice.status}",
                actor=actor,
                actor_type=actor_type,
                actor_label=actor_label,
            )
            return CaptureResult(outcome, invoice, payment)
        if amount != invoice.total_amount or currency != invoice.currency:
            _flag(
                invoice,
                f"Captured {label} does not match the invoice total "
                f"{_money(invoice.total_amount, invoice.currency, invoice)}",
                actor=actor,
                actor_type=actor_type,
                actor_label=actor_label,
            )
            return CaptureResult(CaptureOutcome.MISMATCH, invoice, payment)

        before = invoice.status
        invoice.mark_paid(at=paid_at, payment_ref=_reference(payment))
        # needs_review stays as it was: an earlier mismatched payment is still money that
        # staff must return or settle.
        invoice.save(update_fields=["status", "paid_at", "payment_ref", "updated_at"])
        audit_record(
            action="invoice.paid",
            object_type="invoice",
            object_id=invoice.pk,
            subject_user_id=invoice.user_id,
            summary=f"Invoice {invoice.invoice_number} paid: {label}",
            actor=actor,
            actor_type=actor_type,
            actor_label=actor_label,
            before={"status": before},
            after={"status": invoice.status, "payment_ref": invoice.payment_ref},
            reason=reason,
        )
        audit_record(
            action="payment.captured",
            object_type="payment",
            object_id=payment.pk,
            subject_user_id=invoice.user_id,
            summary=f"Payment {label} captured for {invoice.invoice_number}",
            actor=actor,
            actor_type=actor_type,
            actor_label=actor_label,
            before={"status": PaymentStatus.PENDING if not created else None},
            after={"status": payment.status},
        )
        context = line_registry.LineContext(
            invoice=invoice,
            now=paid_at,
            actor=actor,
            actor_type=actor_type,
            actor_label=actor_label,
        )
        line_registry.activate_all(invoice.lines.all(), context)
        payment_captured.send_on_commit(sender=Invoice, invoice=invoice, payment=payment)
        return CaptureResult(CaptureOutcome.CAPTURED, invoice, payment)


def payment_fail(
    *,
    payment_id,
    reason: str,
    provider_data: dict | None = None,
    actor_type: str | None = None,
    actor_label: str | None = None,
) -> Payment:
    """A payment attempt failed: the payment becomes FAILED, the invoice stays payable;
    ``payment_failed`` after commit. A captured payment is never failed."""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .select_related("invoice")
            .get(pk=payment_id)
        )
        if payment.status != PaymentStatus.PENDING:
            return payment
        payment.fail(reason)
        if provider_data:
            payment.provider_data = provider_data
        payment.save()
        invoice = payment.invoice
        audit_record(
            action="payment.failed",
            object_type="payment",
            object_id=payment.pk,
            subject_user_id=payment.user_id,
            summary=f"Payment for {invoice.invoice_number} failed: {reason}"[:500],
            actor_type=actor_type,
            actor_label=actor_label,
            before={"status": PaymentStatus.PENDING},
            after={"status": PaymentStatus.FAILED},
        )
        payment_failed.send_on_commit(
            sender=Invoice, invoice=invoice, payment=payment, reason=reason
        )
    return payment


def invoice_mark_paid(
    *,
    invoice_id,
    actor,
    payment_reference: str = "MANUAL",
    amount: Decimal | None = None,
    paid_at: datetime.datetime | None = None,
    method_label: str = MANUAL_GATEWAY,
    reason: str | None = None,
) -> CaptureResult:
    """Staff record a payment received outside the system (bank transfer): the capture with
    gateway ``manual`` and external id ``payment_reference``. Repeating it with the same
    reference on the PAID invoice returns the same result. The result's invoice holds its
    owner with billing details and its lines, as they are after the capture."""
    with transaction.atomic():
        # The capture goes on with this lock. The owner, their billing details and the lines
        # come along: the lines are activated, and the caller answers with all three.
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("user", "user__details")
            .prefetch_related(Prefetch("lines", queryset=InvoiceLine.objects.order_by("position")))
            .annotate(currency_places=currency_places_subquery())
            .get(pk=invoice_id)
        )
        if invoice.status == InvoiceStatus.PAID:
            if invoice.payment_ref == payment_reference:
                payment = invoice.payments.filter(
                    gateway=MANUAL_GATEWAY, external_id=payment_reference
                ).first()
                if payment is not None:
                    return CaptureResult(CaptureOutcome.ALREADY_CAPTURED, invoice, payment)
            raise InvalidTransition("Invoice already paid")
        if not invoice.is_open:
            raise InvalidTransition(f"Cannot mark as paid: invoice status is {invoice.status}")
        if amount is not None and amount != invoice.total_amount:
            raise ValidationFailed(
                f"Amount does not match the invoice total "
                f"({_money(invoice.total_amount, invoice.currency, invoice)})",
                field="amount",
            )
        return _captured(
            invoice,
            gateway=MANUAL_GATEWAY,
            external_id=payment_reference,
            amount=invoice.total_amount,
            currency=invoice.currency,
            provider_data={"method": method_label} if method_label else None,
            paid_at=paid_at,
            actor=actor,
            reason=reason,
        )


def invoice_capture_zero(*, invoice_id, actor=None, actor_type: str | None = None) -> CaptureResult:
    """A zero total needs no payment: captured at once with reference ``zero-price``."""
    with transaction.atomic():
        invoice = _locked_invoice(invoice_id)
        if invoice.total_amount != 0:
            raise ValueError("Only a zero total is captured without a payment")
        return _captured(
            invoice,
            gateway=ZERO_GATEWAY,
            external_id=ZERO_REFERENCE,
            amount=invoice.total_amount,
            currency=invoice.currency,
            actor=actor,
            actor_type=actor_type,
        )
