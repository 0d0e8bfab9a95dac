"""Charging saved payment methods for open renewals (DOMAIN §4 Renewal, §7).

A subscription whose customer let a gateway keep a payment method (``saved_method_gateway`` /
``saved_method_id``) has its open renewal invoice charged off-session, when that gateway's
plugin is enabled and can charge saved methods:

- the first charge at the end of the current period (``expires_at``), then on each of the
  ``payment_retry_days`` after it (default days 1, 3, 5), never after the grace period; a run
  that missed slots makes one attempt and waits for the next slot after it;
- the attempt is claimed (``charge_attempts`` + 1, ``last_charge_at``) in a short transaction
  with the subscription locked, and the gateway is called outside any transaction with the
  idempotency key ``renewal:<invoice id>:<attempt>``, so a concurrent run cannot charge twice;
- succeeded: captured through ``invoice_capture`` (the renewal line extends the subscription);
  pending: a PENDING payment waits for the provider's event; failed or refused: a FAILED payment
  and ``payment_failed``; the invoice stays payable by the customer.
"""

from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit.models import ActorType
from audit.services import audit_record
from billing.invoices.models import (
    OPEN_STATUSES,
    Invoice,
    InvoiceType,
    Payment,
    PaymentStatus,
)
from billing.invoices.services import invoice_capture, payment_fail
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.services.renewal.batches import claim_batch, logger
from platform_settings.selectors import platform_settings_get
from plugins import gateway as gateways
from plugins import state as plugin_state

JOB_NAME = "renewals_charge_saved"
DEFAULT_BATCH_SIZE = 100


def _open_renewals(subscription_ids: list) -> dict:
    """subscription id -> its open renewal invoice with something to pay (earliest period)."""
    invoices = (
        Invoice.objects.select_related("user")
        .prefetch_related("lines")
        .filter(
            subscription_id__in=subscription_ids,
            invoice_type=InvoiceType.RENEWAL,
            status__in=OPEN_STATUSES,
            total_amount__gt=0,
        )
        .order_by("-period_start")
    )
    return {invoice.subscription_id: invoice for invoice in invoices}


def _gateway(name: str):
    """The gateway of ``name`` when its plugin is enabled and can charge saved methods."""
    if not plugin_state.is_enabled(name):
        return None
    try:
        gateway = gateways.gateway_for(name)
    except gateways.NotConfigured:
        return None
    return gateway if gateway.supports_saved_methods else None


def charge_is_due(
    subscription: Subscription,
    *,
    now: datetime.datetime,
    retry_days: list[int],
    grace_days: int,
) -> bool:
    """A charge slot (the period end, then each retry day after it) has come since the last
    attempt, attempts are left, and the grace period is not over."""
    end = subscription.expires_at
    if end is None or now >= end + datetime.timedelta(days=grace_days):
        return False
    slots = [end + datetime.timedelta(days=day) for day in [0, *sorted(retry_days)]]
    if subscription.charge_attempts >= len(slots):
        return False
    last = subscription.last_charge_at
    return any(slot <= now and (last is None or last < slot) for slot in slots)


def _charge_request(invoice: Invoice, subscription: Subscription, attempt: int):
    return gateways.PaymentRequest(
        invoice_id=str(invoice.pk),
        user_id=str(invoice.user_id),
        amount=invoice.total_amount,
        currency=invoice.currency,
        description=f"Invoice {invoice.invoice_number}",
        success_url="",
        cancel_url="",
        lines=tuple(
            gateways.PaymentLine(
                description=line.description, quantity=line.quantity, amount=line.gross_amount
            )
            for line in invoice.lines.all()
        ),
        customer_email=invoice.user.email or None,
        idempotency_key=f"renewal:{invoice.pk}:{attempt}",
        metadata={
            "invoice_id": str(invoice.pk),
            "user_id": str(invoice.user_id),
            "subscription_id": str(subscription.pk),
        },
    )


def _payment_record(invoice: Invoice, *, gateway: str, external_id, amount, currency, data):
    """A PENDING payment of this attempt (the provider's payment when it was seen before)."""
    with transaction.atomic():
        if external_id:
            existing = Payment.objects.filter(gateway=gateway, external_id=external_id).first()
            if existing is not None:
                return existing
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    invoice=invoice,
                    user_id=invoice.user_id,
                    gateway=gateway,
                    external_id=external_id or None,
                    amount=amount,
                    currency=currency,
                    status=PaymentStatus.PENDING,
                    provider_data=data,
                )
        except IntegrityError:
            return Payment.objects.get(gateway=gateway, external_id=external_id)
        audit_record(
            action="payment.started",
            object_type="payment",
            object_id=payment.pk,
            subject_user_id=invoice.user_id,
            summary=(
                f"Renewal charge of {amount} {currency} via {gateway} for {invoice.invoice_number}"
            ),
            actor_type=ActorType.SYSTEM,
            actor_label=JOB_NAME,
            after={"status": payment.status},
        )
        return payment


def _charge(subscription: Subscription, invoice: Invoice, attempt: int) -> None:
    """Calls the gateway (outside any transaction) and records what it answered."""
    name = subscription.saved_method_gateway
    data = {"charge": "saved_method", "attempt": attempt}
    result = None
    try:
        gateway = gateways.gateway_for(name)
        result = gateway.charge_saved_method(
            saved_payment_method_id=subscription.saved_method_id,
            request=_charge_request(invoice, subscription, attempt),
        )
    except (gateways.GatewayError, gateways.NotConfigured) as error:
        reason = str(error) or "The provider refused the charge"
    except Exception as error:  # a plugin's bug must not stop the run
        logger.exception("%s: charging %s failed", JOB_NAME, invoice.invoice_number)
        reason = f"Charge failed: {type(error).__name__}"
    if result is not None and result.status == "succeeded":
        invoice_capture(
            invoice_id=invoice.pk,
            gateway=name,
            external_id=result.external_payment_id,
            amount=result.amount,
            currency=result.currency,
            provider_data=data,
            actor_type=ActorType.SYSTEM,
            actor_label=JOB_NAME,
        )
        return
    payment = _payment_record(
        invoice,
        gateway=name,
        external_id=result.external_payment_id if result is not None else None,
        amount=result.amount if result is not None else invoice.total_amount,
        currency=result.currency if result is not None else invoice.currency,
        data=data,
    )
    if result is not None and result.status == "pending":
        return  # the provider's event captures or fails it
    if result is not None:
        reason = result.failure_reason or "The provider declined the charge"
    payment_fail(
        payment_id=payment.pk, reason=reason, actor_type=ActorType.SYSTEM, actor_label=JOB_NAME
    )


def _chargeable():
    saved = (
        Q(saved_method_gateway__isnull=False, saved_method_id__isnull=False)
        & ~Q(saved_method_gateway="")
        & ~Q(saved_method_id="")
    )
    return Subscription.objects.filter(
        saved,
        status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE),
        cancelled_at__isnull=True,
    ).filter(
        Exists(
            Invoice.objects.filter(
                subscription_id=OuterRef("pk"),
                invoice_type=InvoiceType.RENEWAL,
                status__in=OPEN_STATUSES,
                total_amount__gt=0,
            )
        )
    )


def renewals_charge_saved(
    *, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime.datetime | None = None
) -> int:
    """Charges the saved payment method of every open renewal whose charge slot has come (see
    the module docstring); returns how many charges were attempted."""
    now = now or timezone.now()
    settings = platform_settings_get()
    retry_days = list(settings.payment_retry_days or [])
    queryset = _chargeable().filter(expires_at__lte=now)
    attempted = 0
    after = None
    while True:
        claimed = []
        with transaction.atomic():
            batch = claim_batch(queryset, after=after, batch_size=batch_size)
            if not batch:
                return attempted
            after = batch[-1].pk
            invoices = _open_renewals([subscription.pk for subscription in batch])
            gateways_ready: dict = {}
            for subscription in batch:
                invoice = invoices.get(subscription.pk)
                name = subscription.saved_method_gateway
                if name not in gateways_ready:
                    gateways_ready[name] = _gateway(name) is not None
                if invoice is None or not gateways_ready[name]:
                    continue
                if not charge_is_due(
                    subscription,
                    now=now,
                    retry_days=retry_days,
                    grace_days=settings.grace_period_days,
                ):
                    continue
                subscription.charge_attempts += 1
                subscription.last_charge_at = now
                subscription.save(update_fields=["charge_attempts", "last_charge_at", "updated_at"])
                claimed.append((subscription, invoice, subscription.charge_attempts))
        for subscription, invoice, attempt in claimed:
            try:
                _charge(subscription, invoice, attempt)
            except Exception:
                logger.exception("%s: recording the charge of %s failed", JOB_NAME, invoice.pk)
            attempted += 1
