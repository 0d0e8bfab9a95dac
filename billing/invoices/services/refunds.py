"""Refunds, credit notes and provider refund reversals (DOMAIN §7, API.md §14).

A refund is checked first (state, amount, the token claw-back), then the gateway refunds the money
outside any transaction (a provider call must never hold row locks), then one transaction records
it: payment and invoice amounts, a numbered credit note and, when the refund completes the
invoice, the reversal of every line and the claw-back of the tokens it granted.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone

from audit.models import ActorType
from audit.services import audit_record
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places, money_text
from billing.invoices import lines as line_registry
from billing.invoices.extensions import token_ledger
from billing.invoices.models import (
    SETTLED_PAYMENT_STATUSES,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from billing.invoices.services.capture import MANUAL_GATEWAY, ZERO_GATEWAY
from billing.invoices.services.claims import (
    CLAIM_LEASE_SECONDS,
    CLAIM_POLL_SECONDS,
    CLAIM_WAIT_SECONDS,
    claim_is_live,
)
from billing.invoices.services.numbering import CREDIT_NOTE_SERIES, number_allocate
from billing.invoices.signals import payment_refunded, refund_reversed
from plugins import gateway as plugin_gateway
from plugins import state as plugin_state
from vbwd.exceptions import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from vbwd.money import round_money

logger = logging.getLogger(__name__)

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


def _refund_claim(invoice: Invoice, payment: Payment, request: _Request) -> Refund:
    """Writes the PENDING refund row whose id names the provider's idempotency key."""
    refund = Refund.objects.create(
        invoice=invoice,
        payment=payment,
        amount=request.amount,
        currency=invoice.currency,
        reason=request.reason,
        force=request.force,
        requested_by=request.actor if getattr(request.actor, "pk", None) else None,
        call_started_at=timezone.now(),
    )
    audit_record(
        action="payment.refund_claimed",
        object_type="payment",
        object_id=payment.pk,
        subject_user_id=invoice.user_id,
        summary=(
            f"Refund of {money_text(request.amount, invoice.currency)} of "
            f"{invoice.invoice_number} requested at {payment.gateway}"
        ),
        actor=request.actor,
        actor_type=request.actor_type,
        actor_label=request.actor_label,
        reason=request.reason,
        after={"refund_id": str(refund.pk), "status": refund.status},
    )
    return refund


def _resume(claim: Refund, amount, places: int) -> Refund:
    """A claim whose call failed or was abandoned is repeated with its own key and amount;
    another amount must wait until that refund is settled."""
    if amount is not None and round_money(Decimal(str(amount)), places) != claim.amount:
        raise Conflict(
            f"A refund of {format_money(claim.amount, places)} {claim.currency} is still pending "
            "at the provider; repeat that refund to complete it"
        )
    claim.call_started_at = timezone.now()
    claim.save(update_fields=["call_started_at", "updated_at"])
    return claim


def _refund_at_gateway(claim: Refund) -> str:
    """Asks the provider for the claimed refund (no transaction is open) with the claim's key;
    returns the provider's refund id. A failed call leaves the claim PENDING for a retry with the
    same key; a definite decline marks it FAILED."""
    payment = claim.payment
    name = payment.gateway
    try:
        gateway = plugin_gateway.gateway_for(name)
        result = gateway.refund(
            external_payment_id=payment.external_id,
            amount=claim.amount,
            currency=claim.currency,
            idempotency_key=claim.idempotency_key,
        )
    except (plugin_gateway.GatewayError, plugin_gateway.ProviderUnavailable) as error:
        _claim_release(claim.pk)
        raise DomainError(
            f"Provider refund failed: {error}", code="provider_error", status_code=502
        ) from error
    except plugin_gateway.NotConfigured as error:
        _claim_release(claim.pk)
        raise ServiceUnavailable(f"Payment plugin '{name}' is not configured") from error
    except Exception:
        _claim_release(claim.pk)
        raise
    if result.status == "failed":
        refund_claim_fail(refund_id=claim.pk, reason=f"refund {result.refund_id} was declined")
        raise DomainError(
            f"Provider refund failed: refund {result.refund_id} was declined",
            code="provider_error",
            status_code=502,
        )
    return result.refund_id


def _claim_release(refund_id) -> None:
    """The call is over without an answer to record: the claim stays PENDING, free for a retry."""
    Refund.objects.filter(pk=refund_id, status=RefundStatus.PENDING).update(
        call_started_at=None, updated_at=timezone.now()
    )


def refund_claim_fail(*, refund_id, reason: str) -> Refund:
    """The provider declined the claimed refund: the claim is FAILED, nothing else changes."""
    with transaction.atomic():
        claim = (
            Refund.objects.select_for_update(of=("self",))
            .select_related("invoice")
            .get(pk=refund_id)
        )
        if claim.status != RefundStatus.PENDING:
            return claim
        claim.fail(reason)
        claim.save(update_fields=["status", "failure_reason", "call_started_at", "updated_at"])
        audit_record(
            action="payment.refund_failed",
            object_type="payment",
            object_id=claim.payment_id,
            subject_user_id=claim.invoice.user_id,
            summary=f"Refund of {claim.invoice.invoice_number} declined by the provider: {reason}"[
                :500
            ],
            actor_type=ActorType.PROVIDER,
            before={"refund_id": str(claim.pk), "status": RefundStatus.PENDING},
            after={"status": claim.status},
        )
    return claim


def _outcome_of(claim: Refund) -> RefundOutcome:
    note = claim.credit_note
    return RefundOutcome(
        invoice=Invoice.objects.get(pk=claim.invoice_id),
        credit_note=note,
        payment=Payment.objects.get(pk=claim.payment_id),
        tokens_clawed_back=note.tokens_clawed_back,
        token_shortfall=note.token_shortfall,
        full_refund=note.full_refund,
    )


def refund_claim_complete(
    *,
    refund_id,
    provider_refund_id: str | None,
    actor_type: str | None = None,
    actor_label: str | None = None,
) -> RefundOutcome:
    """Records a claimed refund the provider made: payment and invoice amounts, the credit note
    and, when it completes the invoice, the reversal of every line. Idempotent: a claim recorded
    before (by the staff request or by the provider's event) returns that record."""
    with transaction.atomic():
        invoice_id = Refund.objects.values_list("invoice_id", flat=True).get(pk=refund_id)
        invoice = _locked_paid_invoice(invoice_id)
        claim = Refund.objects.select_for_update().get(pk=refund_id)
        if claim.status == RefundStatus.SUCCEEDED:
            return _outcome_of(claim)
        if claim.status != RefundStatus.PENDING or invoice.status != InvoiceStatus.PAID:
            raise InvalidTransition("Only paid invoices can be refunded")
        request = _Request(
            amount=claim.amount,
            reason=claim.reason,
            reference=provider_refund_id,
            force=claim.force,
            actor=claim.requested_by,
            actor_type=actor_type,
            actor_label=actor_label,
            provider_initiated=False,
        )
        payment = Payment.objects.get(pk=claim.payment_id)
        outcome = _refund_record(invoice, payment, request)
        claim.succeed(provider_refund_id=provider_refund_id, credit_note=outcome.credit_note)
        claim.save()
    return outcome


def invoice_refund(
    *,
    invoice_id,
    actor=None,
    amount: Decimal | None = None,
    reason: str | None = None,
    refund_reference: str | None = None,
    record_only: bool = False,
    force: bool = False,
    actor_type: str | None = None,
    actor_label: str | None = None,
    provider_initiated: bool = False,
) -> RefundOutcome:
    """Refunds all or part of a PAID invoice (through its gateway unless ``record_only`` or
    ``provider_initiated``) and issues a credit note; a refund that completes the invoice makes
    it REFUNDED, reverses every line and claws back the tokens it granted. Nothing is recorded
    when a check fails. A gateway refund is claimed first (a PENDING refund row, committed), then
    the provider is called with the claim's key outside any transaction, then the answer is
    recorded; a failed call keeps the claim for a retry with the same key. ``payment_refunded``
    is sent after commit."""
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
                    refund_reference=refund_reference,
                    record_only=record_only,
                    force=force,
                    actor=actor,
                    actor_type=actor_type,
                    actor_label=actor_label,
                    provider_initiated=provider_initiated,
                )
                if isinstance(claim, RefundOutcome):
                    return claim  # recorded without a provider call
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
    transaction.on_commit(
        lambda: payment_refunded.send_robust(
            sender=Invoice,
            invoice=invoice,
            credit_note=credit_note,
            payment=payment,
            full_refund=full,
        )
    )
    return RefundOutcome(
        invoice=invoice,
        credit_note=credit_note,
        payment=payment,
        tokens_clawed_back=tokens_clawed_back,
        token_shortfall=token_shortfall,
        full_refund=full,
    )


# A claim younger than this is left to the staff member who may be retrying it right now.
PENDING_REFUND_GRACE_SECONDS = 600


def refunds_complete_pending(*, batch_size: int = 50, now=None) -> int:
    """Repeats each refund claim the provider has not answered (its call failed, timed out, or
    the process died during it) with the claim's own idempotency key and records the answer,
    so a refund is never left half done: the provider returns the first refund if it made it,
    or makes it now. A refusal ends the claim as FAILED. Returns how many claims were recorded.
    Safe on several workers at once (each claim is taken with SKIP LOCKED)."""
    now = now or timezone.now()
    abandoned = now - datetime.timedelta(seconds=CLAIM_LEASE_SECONDS)
    settled_in = now - datetime.timedelta(seconds=PENDING_REFUND_GRACE_SECONDS)
    candidates = list(
        Refund.objects.filter(status=RefundStatus.PENDING, created_at__lte=settled_in)
        .filter(Q(call_started_at__isnull=True) | Q(call_started_at__lt=abandoned))
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    recorded = 0
    for refund_id in candidates:
        with transaction.atomic():
            claim = (
                Refund.objects.select_for_update(skip_locked=True)
                .select_related("payment")
                .filter(pk=refund_id, status=RefundStatus.PENDING)
                .first()
            )
            if claim is None or claim_is_live(claim.call_started_at, now=now):
                continue
            if not plugin_state.is_enabled(claim.payment.gateway):
                continue  # repeated once the plugin is back, or refunded by staff by hand
            claim.call_started_at = now
            claim.save(update_fields=["call_started_at", "updated_at"])
        try:
            provider_refund_id = _refund_at_gateway(claim)
        except DomainError as error:
            if error.code == "provider_error" and not _is_unknown(error):
                refund_claim_fail(refund_id=claim.pk, reason=error.message)
            logger.warning("refunds_complete_pending: %s: %s", claim.pk, error.message)
            continue
        refund_claim_complete(
            refund_id=claim.pk,
            provider_refund_id=provider_refund_id,
            actor_type=ActorType.SYSTEM,
            actor_label="refunds_complete_pending",
        )
        recorded += 1
    return recorded


def _is_unknown(error: DomainError) -> bool:
    """The provider did not answer (its outcome is unknown): try again on the next run."""
    return isinstance(error.__cause__, plugin_gateway.ProviderUnavailable)


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
        transaction.on_commit(
            lambda: refund_reversed.send_robust(
                sender=Invoice, invoice=invoice, credit_note=credit_note
            )
        )
    return credit_note
