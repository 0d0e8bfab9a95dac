"""Checkout sessions at a payment gateway (the ``create-session`` route of every gateway plugin
and ``POST /user/invoices/<id>/pay`` for gateway methods), and reading a session's status back.

Opening a session follows claim → commit → call → record: a PENDING payment is written and
committed first (its ``idempotency_key`` is what the provider receives), the provider is called
with no transaction open, and the session it returns is recorded on that payment afterwards.
Concurrent requests for one invoice find the claim and wait for its answer, so they share one
provider session; a call that failed leaves the claim for the next request, which repeats it
with the same key (see ``billing.invoices.services.claims``).
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import ActorType
from audit.services import audit_record
from billing.catalog.models import AddOn, BillingPeriod, PaymentMethod, Plan
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places, money_text
from billing.invoices.models import Invoice, InvoiceStatus, LineType, Payment, PaymentStatus
from billing.invoices.services.capture import invoice_capture
from billing.invoices.services.claims import (
    CLAIM_POLL_SECONDS,
    CLAIM_WAIT_SECONDS,
    claim_is_live,
    provider_call_allowed,
)
from plugins import gateway as gateways
from vbwd.exceptions import (
    BusinessRuleError,
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    ServiceUnavailable,
)

NOT_FOUND = "Invoice not found"
SESSION_NOT_FOUND = "Session not found"
# Replaced by the provider with the id of the session it creates (Stripe's template variable);
# a gateway whose provider cannot do that puts the claiming payment's id in its place, which
# ``session-status`` accepts as well.
SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
# provider_data["kind"] of the payments that stand for a checkout session.
SESSION_KIND = "session"


class ProviderError(DomainError):
    status_code = 502
    code = "provider_error"


def gateway_or_unavailable(name: str) -> gateways.PaymentGateway:
    try:
        return gateways.gateway_for(name)
    except gateways.NotConfigured:
        raise ServiceUnavailable(f"{name} is not configured") from None


def _has_recurring_item(invoice: Invoice) -> bool:
    """A SUBSCRIPTION or ADD_ON line whose catalog item renews (not ONE_TIME)."""
    lines = list(invoice.lines.all())
    plan_ids = [
        line.catalog_item_id
        for line in lines
        if line.type == LineType.SUBSCRIPTION and line.catalog_item_id
    ]
    addon_ids = [
        line.catalog_item_id
        for line in lines
        if line.type == LineType.ADD_ON and line.catalog_item_id
    ]
    recurring = ~Q(billing_period=BillingPeriod.ONE_TIME)
    if plan_ids and Plan.objects.filter(recurring, pk__in=plan_ids).exists():
        return True
    return bool(addon_ids) and AddOn.objects.filter(recurring, pk__in=addon_ids).exists()


def provider_amount(minor: int | None, currency: str, *, places: int | None = None):
    """An amount a provider reported in its minor units of ``currency`` as ``Decimal``, with the
    currency's decimal places (``places`` when the caller has read them already)."""
    if minor is None:
        return None
    return gateways.from_minor_units(minor, currency_places(currency) if places is None else places)


def _frontend_url() -> str:
    return str(getattr(settings, "VBWD_FRONTEND_URL", "http://localhost:5173")).rstrip("/")


def invoice_payment_request(
    invoice: Invoice,
    *,
    idempotency_key: str | None,
    metadata: dict[str, str],
    success_url: str = "",
    cancel_url: str = "",
    save_payment_method: bool = False,
) -> gateways.PaymentRequest:
    """The invoice's total and lines as a gateway expects them (one-off or off-session)."""
    return gateways.PaymentRequest(
        invoice_id=str(invoice.pk),
        user_id=str(invoice.user_id),
        amount=invoice.total_amount,
        currency=invoice.currency,
        currency_places=currency_places(invoice.currency),
        description=f"Invoice {invoice.invoice_number}",
        success_url=success_url,
        cancel_url=cancel_url,
        lines=tuple(
            gateways.PaymentLine(
                description=line.description, quantity=line.quantity, amount=line.gross_amount
            )
            for line in invoice.lines.all()
        ),
        customer_email=getattr(invoice.user, "email", None) or None,
        save_payment_method=save_payment_method,
        idempotency_key=idempotency_key,
        metadata=metadata,
    )


def payment_request_for(
    invoice: Invoice, *, gateway: gateways.PaymentGateway, payment: Payment
) -> gateways.PaymentRequest:
    """The one-off payment of the invoice total: metadata naming the invoice, its owner and the
    claiming payment, the frontend's success and cancel URLs, and the claim's idempotency key."""
    base = _frontend_url()
    return invoice_payment_request(
        invoice,
        idempotency_key=payment.idempotency_key,
        metadata={
            "invoice_id": str(invoice.pk),
            "user_id": str(invoice.user_id),
            "payment_id": str(payment.pk),
        },
        success_url=f"{base}/pay/{gateway.name}/success?session_id={SESSION_ID_PLACEHOLDER}",
        cancel_url=f"{base}/pay/{gateway.name}/cancel?invoice={invoice.pk}",
        save_payment_method=gateway.supports_saved_methods and _has_recurring_item(invoice),
    )


def session_data(payment: Payment, *, client_secret: str | None = None) -> dict:
    """GatewaySession of a session payment."""
    return {
        "provider": payment.gateway,
        "session_id": payment.session_id,
        "session_url": payment.session_url,
        "client_secret": client_secret or payment.session_client_secret,
        "expires_at": payment.session_expires_at,
    }


def invoice_payment_method(invoice: Invoice) -> PaymentMethod | None:
    """The method the invoice is paid with: its own, else the default method."""
    method = None
    if invoice.payment_method:
        method = PaymentMethod.objects.filter(code=invoice.payment_method).first()
    if method is None:
        method = PaymentMethod.objects.filter(is_default=True).first()
    return method


def _check_payable(invoice: Invoice, gateway: gateways.PaymentGateway, name: str) -> None:
    if invoice.status == InvoiceStatus.PAID:
        raise InvalidTransition("Invoice already paid")
    if not invoice.is_open:
        raise InvalidTransition(f"Invoice is {invoice.status}, expected PENDING")
    if invoice.total_amount <= 0:
        raise BusinessRuleError("Invoice total is zero; nothing to pay")
    method = invoice_payment_method(invoice)
    if method is not None and method.plugin_id != name:
        raise BusinessRuleError(f"This invoice is payable with '{method.name}', not {name}")
    if not gateway.supports_currency(invoice.currency):
        raise BusinessRuleError(
            f"Currency {invoice.currency} is not supported by {name}", code="item_unavailable"
        )


def _session_claims(invoice: Invoice, name: str):
    """PENDING session payments of this invoice at this gateway for its current total."""
    return Payment.objects.select_for_update().filter(
        invoice=invoice,
        gateway=name,
        status=PaymentStatus.PENDING,
        external_id__isnull=True,
        provider_data__kind=SESSION_KIND,
        amount=invoice.total_amount,
        currency=invoice.currency,
    )


def _claim(invoice_id, user, gateway, name: str, client_key: str | None):
    """On the locked invoice: ("ready", payment) for an open session to hand out again,
    ("wait", None) while another request is opening one, or ("call", payment) with the claim
    this request now holds (new, or one whose earlier call failed or was abandoned)."""
    invoice = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(pk=invoice_id, user_id=user.pk)
        .first()
    )
    if invoice is None:
        raise NotFound(NOT_FOUND)
    _check_payable(invoice, gateway, name)
    now = timezone.now()
    for payment in _session_claims(invoice, name).order_by("-created_at"):
        if payment.session_id:
            if payment.session_expires_at is None or payment.session_expires_at > now:
                return "ready", payment
            continue  # expired at the provider: a new session is needed
        if claim_is_live(payment.call_started_at, now=now):
            return "wait", None
        payment.call_started_at = now
        payment.save(update_fields=["call_started_at", "updated_at"])
        return "call", payment
    payment = Payment(
        invoice=invoice,
        user_id=invoice.user_id,
        gateway=name,
        amount=invoice.total_amount,
        currency=invoice.currency,
        status=PaymentStatus.PENDING,
        provider_data={"kind": SESSION_KIND},
        call_started_at=now,
    )
    # The client's Idempotency-Key, when it sent one, names the provider call (prefixed with the
    # user); otherwise the claim's own id does. Either is fixed here, before the call.
    payment.idempotency_key = (
        f"{invoice.user_id}:{client_key}" if client_key else f"session:{payment.pk}"
    )
    payment.save(force_insert=True)
    audit_record(
        action="payment.session_claimed",
        object_type="payment",
        object_id=payment.pk,
        subject_user_id=invoice.user_id,
        summary=(
            f"{name} checkout session requested for {invoice.invoice_number}: "
            f"{money_text(invoice.total_amount, invoice.currency)}"
        ),
        actor=user,
        after={"status": payment.status, "idempotency_key": payment.idempotency_key},
    )
    return "call", payment


def _release(payment_id) -> None:
    """The call ended without a session: the claim stays PENDING for the next request."""
    Payment.objects.filter(pk=payment_id, status=PaymentStatus.PENDING).update(
        call_started_at=None, updated_at=timezone.now()
    )


def _record(payment_id, session: gateways.PaymentSession, *, user, name: str) -> Payment:
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .select_related("invoice")
            .get(pk=payment_id)
        )
        if payment.session_id == session.session_id:
            return payment  # recorded by a concurrent request that repeated the same call
        data = dict(payment.provider_data or {})
        data["saves_payment_method"] = bool(session.saves_payment_method)
        payment.session_id = session.session_id
        payment.session_url = session.session_url
        payment.session_expires_at = session.expires_at
        payment.session_client_secret = session.client_secret
        payment.provider_data = data
        payment.call_started_at = None
        payment.save()
        invoice = payment.invoice
        audit_record(
            action="payment.session_created",
            object_type="payment",
            object_id=payment.pk,
            subject_user_id=invoice.user_id,
            summary=(
                f"{name} checkout session {session.session_id} opened for "
                f"{invoice.invoice_number}: {money_text(invoice.total_amount, invoice.currency)}"
            )[:500],
            actor=user,
            after={"status": payment.status, "session_id": session.session_id},
        )
    return payment


def payment_session_open(
    *, invoice_id, user, gateway_name: str, idempotency_key: str | None = None
) -> tuple[Payment, dict, bool]:
    """Opens a provider checkout session for the caller's open, non-zero invoice, or returns the
    open one of the same invoice and gateway; returns (payment, GatewaySession, created).
    GatewayError → 502, NotConfigured → 503; the claim then stays PENDING and the next request
    repeats the call with the same idempotency key. No lock is held during the provider call."""
    provider_call_allowed("Opening a payment session")
    gateway = gateway_or_unavailable(gateway_name)
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        with transaction.atomic():
            state, payment = _claim(invoice_id, user, gateway, gateway_name, idempotency_key)
            request = (
                payment_request_for(payment.invoice, gateway=gateway, payment=payment)
                if state == "call"
                else None
            )
        if state == "ready":
            return payment, session_data(payment), False
        if state == "call":
            break
        if time.monotonic() >= deadline:
            raise Conflict("A payment session for this invoice is being opened; try again")
        time.sleep(CLAIM_POLL_SECONDS)
    try:
        session = gateway.create_session(request)
    except gateways.NotConfigured:
        _release(payment.pk)
        raise ServiceUnavailable(f"{gateway_name} is not configured") from None
    except (gateways.GatewayError, gateways.ProviderUnavailable) as error:
        _release(payment.pk)
        raise ProviderError(f"Payment provider error: {error}") from None
    except Exception:
        _release(payment.pk)
        raise
    try:
        payment = _record(payment.pk, session, user=user, name=gateway_name)
    except Exception:
        # The provider made the session but it could not be recorded: the next request repeats
        # the call with the same key and gets that session back.
        _release(payment.pk)
        raise
    return payment, session_data(payment, client_secret=session.client_secret), True


# --- reading a session back ---------------------------------------------------------------------


def payment_session_status(*, gateway_name: str, session_id: str, user) -> dict:
    """Reads the caller's session from the provider (server to server). A session the provider
    reports paid while the invoice is still payable is captured now: this is a verified provider
    answer, and the capture checks amount and currency like any other."""
    named = Q(session_id=session_id)
    claim_id = _as_uuid(session_id)
    if claim_id is not None:
        # A provider that makes its id only when the session is created cannot put it in the
        # success URL; the claiming payment's id stands for the session there.
        named |= Q(pk=claim_id, session_id__isnull=False)
    payment = (
        Payment.objects.select_related("invoice")
        .filter(named, gateway=gateway_name, user_id=user.pk)
        .order_by("-created_at")
        .first()
    )
    if payment is None:
        raise NotFound(SESSION_NOT_FOUND)
    session_id = payment.session_id
    gateway = gateway_or_unavailable(gateway_name)
    provider_call_allowed("Reading a payment session")
    try:
        status = gateway.session_status(session_id)
    except gateways.NotConfigured:
        raise ServiceUnavailable(f"{gateway_name} is not configured") from None
    except (gateways.GatewayError, gateways.ProviderUnavailable) as error:
        raise ProviderError(f"Payment provider error: {error}") from None
    invoice = payment.invoice
    places = currency_places(invoice.currency)
    result_status = status.status
    if status.status == "complete" and status.external_payment_id:
        currency = status.currency or invoice.currency
        result = invoice_capture(
            invoice_id=invoice.pk,
            gateway=gateway_name,
            external_id=status.external_payment_id,
            amount=provider_amount(
                status.amount_minor,
                currency,
                places=places if currency == invoice.currency else None,
            ),
            currency=currency,
            payment_id=payment.pk,
            actor_type=ActorType.PROVIDER,
            actor_label=gateway_name,
            saved_method=_saved_method(status),
        )
        invoice = result.invoice
        if not result.paid:
            result_status = "failed"
    invoice = Invoice.objects.get(pk=invoice.pk)
    if invoice.status == InvoiceStatus.PAID and result_status != "failed":
        result_status = "complete"
    return {
        "session_id": session_id,
        "status": result_status,
        "payment_status": status.payment_status,
        "invoice_id": invoice.pk,
        "invoice_status": invoice.status,
        "amount_total": format_money(invoice.total_amount, places),
        "currency": invoice.currency,
    }


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _saved_method(status: gateways.SessionStatus):
    if not status.saved_payment_method_id:
        return None
    return gateways.SavedMethod(
        payment_method_id=status.saved_payment_method_id,
        customer_id=status.saved_customer_id,
    )
