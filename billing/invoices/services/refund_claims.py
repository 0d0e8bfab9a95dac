"""Refund claims: a PENDING refund row is written and committed before the provider is called,
its id names the idempotency key, and the provider's answer is recorded afterwards, by the
request that made the call or by the job that repeats unanswered claims.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import ActorType
from audit.services import audit_record
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places, money_text
from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    Payment,
    Refund,
    RefundStatus,
)
from billing.invoices.services.claims import (
    CLAIM_LEASE_SECONDS,
    claim_is_live,
    provider_call_allowed,
)
from billing.invoices.services.refund_recording import (
    RefundOutcome,
    _locked_paid_invoice,
    _refund_record,
    _Request,
)
from plugins import gateway as plugin_gateway
from plugins import state as plugin_state
from vbwd.exceptions import (
    Conflict,
    DomainError,
    InvalidTransition,
    ServiceUnavailable,
)
from vbwd.money import round_money

logger = logging.getLogger(__name__)


def _refund_claim(invoice: Invoice, payment: Payment, request: _Request) -> Refund:
    """Writes the PENDING refund row whose id names the provider's idempotency key."""
    refund = Refund.objects.create(
        invoice=invoice,
        payment=payment,
        amount=request.amount,
        currency=invoice.currency,
        reason=request.reason,
        customer_reason=request.customer_reason,
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
    provider_call_allowed("Refunding at the provider")
    try:
        gateway = plugin_gateway.gateway_for(name)
        result = gateway.refund(
            external_payment_id=payment.external_id,
            amount=claim.amount,
            currency=claim.currency,
            currency_places=currency_places(claim.currency),
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
    return _outcome_of_note(claim.credit_note)


def _outcome_of_note(note: CreditNote) -> RefundOutcome:
    """The outcome of the refund recorded as ``note``, as its recording returned it."""
    return RefundOutcome(
        invoice=Invoice.objects.get(pk=note.invoice_id),
        credit_note=note,
        payment=Payment.objects.get(pk=note.payment_id) if note.payment_id else None,
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
            customer_reason=claim.customer_reason,
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
