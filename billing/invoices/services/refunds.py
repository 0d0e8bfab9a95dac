"""Refunds of paid invoices and their credit notes.

A refund is checked first (state, amount, the token claw-back), then the gateway refunds the money
outside any transaction (a provider call must never hold row locks), then one transaction records
it: payment and invoice amounts, a numbered credit note and, when the refund completes the
invoice, the reversal of every line and the claw-back of the tokens it granted. Claims live in
``refund_claims``, the recording in ``refund_recording`` and provider reversals in
``refund_reversal``; their entry points are importable from here too.

A staff refund over the API is resumable (``vbwd.idempotency``): the refund claim it makes or
repeats, or the credit note of a refund recorded without a provider call, is a recovery point
written in the same transaction, so a retry of that request after a crash answers with the
refund it made (or completes its claim with the claim's key) instead of refunding again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction

from audit.models import ActorType
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places
from billing.invoices.extensions import token_ledger
from billing.invoices.models import (
    SETTLED_PAYMENT_STATUSES,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    Refund,
    RefundStatus,
)
from billing.invoices.services.claims import (
    CLAIM_POLL_SECONDS,
    CLAIM_WAIT_SECONDS,
    claim_is_live,
)
from billing.invoices.services.refund_claims import (
    _outcome_of,
    _outcome_of_note,
    _refund_at_gateway,
    _refund_claim,
    _resume,
    refund_claim_complete,
    refunds_complete_pending,
)
from billing.invoices.services.refund_recording import (
    OFFLINE_GATEWAYS,
    RefundOutcome,
    _locked_paid_invoice,
    _pending_claim,
    _refund_record,
    _Request,
    _tokens_to_claw_back,
)
from billing.invoices.services.refund_reversal import invoice_refund_reverse
from plugins import state as plugin_state
from vbwd.exceptions import (
    Conflict,
    DomainError,
    InvalidTransition,
    ValidationFailed,
)
from vbwd.idempotency import NO_RECOVERY, Recovery
from vbwd.money import round_money


def _capturing_payment(invoice: Invoice) -> Payment | None:
    """The payment whose reference the invoice was marked PAID with (``invoice.payment_ref``)."""
    if not invoice.payment_ref:
        return None
    for payment in invoice.payments.filter(status__in=SETTLED_PAYMENT_STATUSES):
        if (payment.external_id or str(payment.pk)) == invoice.payment_ref:
            return payment
    return None


def _refund_amount(invoice: Invoice, amount, places: int) -> Decimal:
    """``amount`` (default: all that is refundable) checked against the refundable amount."""
    refundable = round_money(invoice.refundable_amount, places)  # stored with four places
    if amount is None:
        amount = refundable
    try:
        amount = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("amount must be an amount", field="amount") from None
    if not amount.is_finite():
        raise ValidationFailed("amount must be an amount", field="amount")
    if amount.as_tuple().exponent < -places:
        raise ValidationFailed(
            f"Refund amount must have at most {places} decimal places", field="amount"
        )
    if amount <= 0:
        raise ValidationFailed("Refund amount must be greater than zero", field="amount")
    if amount > refundable:
        raise ValidationFailed(
            f"Refund amount exceeds the refundable amount "
            f"({format_money(refundable, places)} {invoice.currency})",
            field="amount",
        )
    return round_money(amount, places)


def _check_tokens(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    """409 insufficient_tokens when a full refund would claw back more than the balance."""
    ledger = token_ledger()
    needed = _tokens_to_claw_back(invoice, lines)
    if ledger is None or needed <= 0:
        return
    balance = ledger.balance(invoice.user)
    if needed > balance:
        raise DomainError(
            f"Refund would claw back {needed} tokens but the balance is {balance}. "
            "Pass force=true to claw back what is available.",
            code="insufficient_tokens",
            status_code=409,
        )


def invoice_refund(
    *,
    invoice_id,
    actor=None,
    amount: Decimal | None = None,
    reason: str | None = None,
    refund_reference: str | None = None,
    record_only: bool = False,
    force: bool = False,
    customer_reason: str | None = None,
    actor_type: str | None = None,
    actor_label: str | None = None,
    provider_initiated: bool = False,
    recovery: Recovery = NO_RECOVERY,
) -> RefundOutcome:
    """Refunds all or part of a PAID invoice (through its gateway unless ``record_only`` or
    ``provider_initiated``) and issues a credit note (``reason`` stays internal: staff screens
    and the audit log; the note prints ``customer_reason`` only); a refund that completes the
    invoice makes it REFUNDED, reverses every line and claws back the tokens it granted. Nothing
    is recorded when a check fails. A gateway refund is claimed first (a PENDING refund row,
    committed), then the provider is called with the claim's key outside any transaction, then the
    answer is recorded; a failed call keeps the claim for a retry with the same key.
    ``payment_refunded`` is sent after commit. ``recovery`` holds the request's recovery points:
    a resumed request whose refund was recorded returns that refund."""
    resumed = invoice_refund_resumed(recovery)
    if resumed is not None:
        return resumed
    if provider_initiated and actor_type is None:
        actor_type = ActorType.PROVIDER
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        with transaction.atomic():
            invoice = _locked_paid_invoice(invoice_id)
            claim = None if provider_initiated else _pending_claim(invoice)
            if claim is not None and claim_is_live(claim.call_started_at):
                # Another request is talking to the provider about this invoice: wait for its
                # answer, then check again (a double click refunds once).
                if time.monotonic() >= deadline:
                    raise Conflict("A refund of this invoice is in progress at the provider")
                claim = None
                waiting = True
            else:
                waiting = False
                claim = _refund_checked(
                    invoice,
                    claim,
                    amount=amount,
                    reason=reason,
                    customer_reason=customer_reason,
                    refund_reference=refund_reference,
                    record_only=record_only,
                    force=force,
                    actor=actor,
                    actor_type=actor_type,
                    actor_label=actor_label,
                    provider_initiated=provider_initiated,
                )
                if isinstance(claim, RefundOutcome):
                    # recorded without a provider call
                    recovery.mark(REFUND_RECORDED, str(claim.credit_note.pk))
                    return claim
                recovery.mark(REFUND_CLAIMED, str(claim.pk))
        if not waiting:
            break
        time.sleep(CLAIM_POLL_SECONDS)
    provider_refund_id = _refund_at_gateway(claim)
    return refund_claim_complete(
        refund_id=claim.pk,
        provider_refund_id=provider_refund_id,
        actor_type=actor_type,
        actor_label=actor_label,
    )


# Recovery points of a refund request: the claim it made or repeated, or the credit note of a
# refund recorded without a provider call.
REFUND_CLAIMED = "refund"
REFUND_RECORDED = "credit_note"


def invoice_refund_resumed(recovery: Recovery) -> RefundOutcome | None:
    """The refund a resumed request already made, from its recovery points: the recorded credit
    note, or the claim once the provider's answer is recorded. None when there is none yet (a
    claim still PENDING is then completed by ``invoice_refund`` with its own key)."""
    points = recovery.points()
    if points.get(REFUND_RECORDED):
        return _outcome_of_note(CreditNote.objects.get(pk=points[REFUND_RECORDED]))
    if points.get(REFUND_CLAIMED):
        claim = (
            Refund.objects.select_related("credit_note")
            .filter(pk=points[REFUND_CLAIMED], status=RefundStatus.SUCCEEDED)
            .first()
        )
        if claim is not None:
            return _outcome_of(claim)
    return None


@dataclass(frozen=True)
class RefundPlan:
    """What a refund asked now would do: ``amount`` (in the invoice currency, rounded to its
    places), whether it completes the invoice's refund, and the gateway it would call (None: the
    refund is only recorded)."""

    amount: Decimal
    full_refund: bool
    gateway: str | None
    places: int


def invoice_refund_plan(*, invoice: Invoice, amount=None, record_only: bool = False) -> RefundPlan:
    """The outcome ``invoice_refund`` would have for these values, checked the same way, without
    locking or changing anything (for a confirmation page; the refund checks again)."""
    if invoice.status != InvoiceStatus.PAID:
        raise InvalidTransition("Only paid invoices can be refunded")
    places = currency_places(invoice.currency)
    amount = _refund_amount(invoice, amount, places)
    payment = _capturing_payment(invoice)
    calls_gateway = (
        payment is not None and payment.gateway not in OFFLINE_GATEWAYS and not record_only
    )
    return RefundPlan(
        amount=amount,
        full_refund=invoice.refunded_amount + amount == invoice.total_amount,
        gateway=payment.gateway if calls_gateway else None,
        places=places,
    )


def _refund_checked(
    invoice: Invoice, claim: Refund | None, *, amount, record_only, provider_initiated, **asked
) -> RefundOutcome | Refund:
    """Every check before any money moves, on the locked invoice; then either the recording of a
    refund that needs no provider call, or the claim of one that does."""
    if invoice.status != InvoiceStatus.PAID:
        raise InvalidTransition("Only paid invoices can be refunded")
    places = currency_places(invoice.currency)
    if claim is not None:
        if record_only:
            raise Conflict(
                f"A refund of {format_money(claim.amount, places)} {claim.currency} is still "
                "pending at the provider; repeat that refund to complete it"
            )
        return _resume(claim, amount, places)
    amount = _refund_amount(invoice, amount, places)
    lines = list(invoice.lines.all())
    full = invoice.refunded_amount + amount == invoice.total_amount
    if full and not asked["force"] and not provider_initiated:
        _check_tokens(invoice, lines)
    payment = _capturing_payment(invoice)
    calls_gateway = (
        payment is not None
        and payment.gateway not in OFFLINE_GATEWAYS
        and not record_only
        and not provider_initiated
    )
    request = _Request(
        amount=amount,
        reason=asked["reason"],
        reference=asked["refund_reference"],
        force=asked["force"],
        actor=asked["actor"],
        actor_type=asked["actor_type"],
        actor_label=asked["actor_label"],
        provider_initiated=provider_initiated,
        customer_reason=asked["customer_reason"],
    )
    if not calls_gateway:
        return _refund_record(invoice, payment, request, lines=lines)
    if not plugin_state.is_enabled(payment.gateway):
        raise DomainError(
            f"Payment plugin '{payment.gateway}' is disabled; refund at the provider and use "
            "record_only",
            code="item_unavailable",
        )
    return _refund_claim(invoice, payment, request)


__all__ = [
    "RefundOutcome",
    "RefundPlan",
    "invoice_refund",
    "invoice_refund_plan",
    "invoice_refund_resumed",
    "invoice_refund_reverse",
    "refund_claim_complete",
    "refunds_complete_pending",
]
