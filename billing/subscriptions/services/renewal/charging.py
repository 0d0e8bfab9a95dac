"""Charging saved payment methods for open renewals.

A subscription whose customer let a gateway keep a payment method (``saved_method_gateway`` /
``saved_method_id``) has its open renewal invoice charged off-session, when that gateway's
plugin is enabled and can charge saved methods:

- the first charge at the end of the current period (``expires_at``), then on each of the
  ``payment_retry_days`` after it (default days 1, 3, 5), never after the grace period; a run
  that missed slots makes one attempt and waits for the next slot after it;
- a batch only picks candidates. Right before each gateway call a short transaction locks the
  invoice, then the subscription (the order capture uses), checks again that the invoice is
  still open with something to pay, that the subscription is ACTIVE or PAST_DUE, not cancelled,
  with its saved method, and that the slot is still due, and claims the attempt
  (``charge_attempts`` + 1, ``last_charge_at``). A customer who cancelled or paid meanwhile is
  not charged, and a concurrent run that waited for the locks finds the slot taken. No lock is
  held while the provider answers;
- the claim writes the PENDING payment of the attempt in the same short transaction, before the
  call, with its idempotency key ``renewal:<invoice id>:<attempt>`` (claim → commit → call →
  record). A process that dies during the call leaves that PENDING payment, and the next
  attempt sends its key again instead of a new one;
- outcomes: succeeded is captured through ``invoice_capture`` (the renewal line extends the
  subscription). A definite decline (``GatewayError`` or the status ``failed``) marks the
  payment FAILED and sends ``payment_failed``; the next attempt uses a new key. An unknown
  outcome (any other exception, such as a timeout after the provider charged, or the status
  ``pending``) leaves the payment PENDING and sends nothing: the provider's event settles it,
  and until then every next attempt sends the same key again, so the provider answers with that
  first charge instead of charging twice. The invoice stays payable by the customer.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

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
from billing.invoices.services.claims import provider_call_allowed
from billing.invoices.services.sessions import invoice_payment_request
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.services.renewal.batches import claim_batch, logger
from platform_settings.selectors import platform_settings_get
from plugins import gateway as gateways
from plugins import state as plugin_state

JOB_NAME = "renewals_charge_saved"
DEFAULT_BATCH_SIZE = 100
CHARGEABLE_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
SAVED_METHOD_CHARGE = "saved_method"  # provider_data["charge"] of the payments this job records


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


@dataclass(frozen=True)
class Attempt:
    """A claimed charge attempt: its number, the idempotency key to send, the saved method (and
    its provider customer) to charge, the PENDING payment that stands for it, and whether that
    payment is an earlier attempt whose outcome is still unknown (its key is sent again)."""

    number: int
    key: str
    saved_method_id: str
    saved_customer_id: str | None
    payment_id: object
    repeats_earlier: bool


def _unresolved_charge(invoice: Invoice, gateway: str) -> Payment | None:
    """The newest PENDING payment this job recorded for ``invoice`` via ``gateway``: an attempt
    whose outcome the provider has not settled yet."""
    pending = Payment.objects.filter(
        invoice_id=invoice.pk, gateway=gateway, status=PaymentStatus.PENDING
    ).order_by("-created_at")
    for payment in pending:
        if (payment.provider_data or {}).get("charge") == SAVED_METHOD_CHARGE:
            return payment
    return None


def _key_of(payment: Payment, invoice: Invoice) -> str:
    data = payment.provider_data or {}
    return data.get("idempotency_key") or f"renewal:{invoice.pk}:{data.get('attempt')}"


def attempt_claim(
    *,
    subscription_id,
    invoice_id,
    gateway: str,
    now: datetime.datetime,
    retry_days: list[int],
    grace_days: int,
) -> Attempt | None:
    """Locks the invoice, then the subscription, checks that the charge is still wanted and
    due, and claims the attempt; None (nothing claimed) otherwise."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
        if (
            invoice is None
            or invoice.status not in OPEN_STATUSES
            or invoice.total_amount <= 0
            or invoice.subscription_id != subscription_id
        ):
            return None
        subscription = Subscription.objects.select_for_update().filter(pk=subscription_id).first()
        if (
            subscription is None
            or subscription.cancelled_at is not None
            or subscription.status not in CHARGEABLE_STATUSES
            or subscription.saved_method_gateway != gateway
            or not subscription.saved_method_id
            or not charge_is_due(
                subscription, now=now, retry_days=retry_days, grace_days=grace_days
            )
        ):
            return None
        subscription.charge_attempts += 1
        subscription.last_charge_at = now
        subscription.save(update_fields=["charge_attempts", "last_charge_at", "updated_at"])
        unresolved = _unresolved_charge(invoice, gateway)
        if unresolved is not None:
            payment, key = unresolved, _key_of(unresolved, invoice)
            payment.call_started_at = now
            payment.save(update_fields=["call_started_at", "updated_at"])
        else:
            key = f"renewal:{invoice.pk}:{subscription.charge_attempts}"
            payment = _claim_payment(
                invoice,
                gateway=gateway,
                data={
                    "charge": SAVED_METHOD_CHARGE,
                    "attempt": subscription.charge_attempts,
                    "idempotency_key": key,
                },
                now=now,
            )
        return Attempt(
            number=subscription.charge_attempts,
            key=key,
            saved_method_id=subscription.saved_method_id,
            saved_customer_id=subscription.saved_method_customer,
            payment_id=payment.pk,
            repeats_earlier=unresolved is not None,
        )


def _claim_payment(invoice: Invoice, *, gateway: str, data: dict, now) -> Payment:
    """The PENDING payment of a new attempt, written before the provider is called and marked
    as under way until its answer is recorded."""
    payment = Payment.objects.create(
        invoice=invoice,
        user_id=invoice.user_id,
        gateway=gateway,
        amount=invoice.total_amount,
        currency=invoice.currency,
        status=PaymentStatus.PENDING,
        provider_data=data,
        idempotency_key=data["idempotency_key"],
        call_started_at=now,
    )
    audit_record(
        action="payment.started",
        object_type="payment",
        object_id=payment.pk,
        subject_user_id=invoice.user_id,
        summary=(
            f"Renewal charge of {invoice.total_amount} {invoice.currency} via {gateway} for "
            f"{invoice.invoice_number}"
        ),
        actor_type=ActorType.SYSTEM,
        actor_label=JOB_NAME,
        after={"status": payment.status, "idempotency_key": payment.idempotency_key},
    )
    return payment


def _charge_request(invoice: Invoice, subscription: Subscription, attempt: Attempt):
    return invoice_payment_request(
        invoice,
        idempotency_key=attempt.key,
        metadata={
            "invoice_id": str(invoice.pk),
            "user_id": str(invoice.user_id),
            "subscription_id": str(subscription.pk),
            "payment_id": str(attempt.payment_id),
        },
    )


def _attach(payment_id, *, gateway: str, external_id: str | None) -> Payment | None:
    """The still PENDING payment ``payment_id``, with the provider's id of its charge set when
    one is given; None when it was settled meanwhile, carries another charge's id, or the id is
    on another row (the provider's event recorded it first)."""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .filter(pk=payment_id, status=PaymentStatus.PENDING)
            .first()
        )
        if payment is None:
            return None
        if payment.call_started_at is not None:
            payment.call_started_at = None  # the call is over; its answer is recorded now
            payment.save(update_fields=["call_started_at", "updated_at"])
        if not external_id or payment.external_id == external_id:
            return payment
        if payment.external_id:
            return None
        if Payment.objects.filter(gateway=gateway, external_id=external_id).exists():
            return None
        try:
            with transaction.atomic():
                payment.external_id = external_id
                payment.save(update_fields=["external_id", "updated_at"])
        except IntegrityError:
            return None
        return payment


def _charge(subscription, invoice, attempt: Attempt, *, name: str, gateway) -> None:
    """Calls the gateway (outside any transaction) and records what it answered on the
    attempt's PENDING payment."""
    result = None
    declined = None  # the reason of a definite decline
    provider_call_allowed("Charging a saved payment method")
    try:
        result = gateway.charge_saved_method(
            saved_payment_method_id=attempt.saved_method_id,
            request=_charge_request(invoice, subscription, attempt),
            customer_id=attempt.saved_customer_id,
        )
    except gateways.GatewayError as error:
        declined = str(error) or "The provider refused the charge"
    except gateways.NotConfigured as error:
        # Nothing reached the provider: this attempt charged nothing, but an earlier attempt
        # whose key it repeats is still unknown and stays so.
        if attempt.repeats_earlier:
            logger.warning("%s: %s not charged: %s", JOB_NAME, invoice.invoice_number, error)
            return
        declined = str(error) or "The provider is not configured"
    except Exception:  # a timeout or a plugin's bug: the charge may have happened
        logger.exception("%s: charging %s ended unknown", JOB_NAME, invoice.invoice_number)
    external_id = (result.external_payment_id or None) if result is not None else None
    if result is not None and result.status == "succeeded":
        payment = _attach(attempt.payment_id, gateway=name, external_id=external_id)
        invoice_capture(
            invoice_id=invoice.pk,
            gateway=name,
            external_id=external_id,
            amount=result.amount,
            currency=result.currency,
            provider_data=_data_of(attempt),
            payment_id=payment.pk if payment is not None else None,
            actor_type=ActorType.SYSTEM,
            actor_label=JOB_NAME,
        )
        return
    if result is not None and result.status == "failed":
        declined = result.failure_reason or "The provider declined the charge"
    payment = _attach(attempt.payment_id, gateway=name, external_id=external_id)
    if declined is None or payment is None:
        return  # unknown or pending: the provider's event settles it, the next key is this one
    payment_fail(
        payment_id=payment.pk, reason=declined, actor_type=ActorType.SYSTEM, actor_label=JOB_NAME
    )


def _data_of(attempt: Attempt) -> dict:
    return {
        "charge": SAVED_METHOD_CHARGE,
        "attempt": attempt.number,
        "idempotency_key": attempt.key,
    }


def _chargeable():
    saved = (
        Q(saved_method_gateway__isnull=False, saved_method_id__isnull=False)
        & ~Q(saved_method_gateway="")
        & ~Q(saved_method_id="")
    )
    return Subscription.objects.filter(
        saved,
        status__in=CHARGEABLE_STATUSES,
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
    grace_days = settings.grace_period_days
    queryset = _chargeable().filter(expires_at__lte=now)
    attempted = 0
    after = None
    while True:
        candidates = []
        with transaction.atomic():
            batch = claim_batch(queryset, after=after, batch_size=batch_size)
            if not batch:
                return attempted
            after = batch[-1].pk
            invoices = _open_renewals([subscription.pk for subscription in batch])
            ready: dict = {}
            for subscription in batch:
                invoice = invoices.get(subscription.pk)
                name = subscription.saved_method_gateway
                if name not in ready:
                    ready[name] = _gateway(name)
                if invoice is None or ready[name] is None:
                    continue
                if charge_is_due(
                    subscription, now=now, retry_days=retry_days, grace_days=grace_days
                ):
                    candidates.append((subscription, invoice, name))
        for subscription, invoice, name in candidates:
            try:
                attempt = attempt_claim(
                    subscription_id=subscription.pk,
                    invoice_id=invoice.pk,
                    gateway=name,
                    now=now,
                    retry_days=retry_days,
                    grace_days=grace_days,
                )
            except Exception:
                logger.exception("%s: claiming the charge of %s failed", JOB_NAME, invoice.pk)
                continue
            if attempt is None:
                continue  # paid, voided, cancelled or claimed by another run meanwhile
            try:
                _charge(subscription, invoice, attempt, name=name, gateway=ready[name])
            except Exception:
                logger.exception("%s: recording the charge of %s failed", JOB_NAME, invoice.pk)
            attempted += 1
