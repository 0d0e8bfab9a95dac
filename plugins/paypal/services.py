"""``capture-order``: the customer's app captures the order the customer approved at PayPal.

The order must be one of the caller's sessions. PayPal is called with no transaction open
(with the request id of the claiming payment, so every path that captures this order gets the
same capture), then the capture is recorded through ``invoice_capture``, which checks amount
and currency and is idempotent per capture id: an order captured before answers the same.
"""

from __future__ import annotations

from audit.models import ActorType
from billing.invoices.models import Invoice, Payment
from billing.invoices.services.capture import invoice_capture
from billing.invoices.services.claims import provider_call_allowed
from billing.invoices.services.sessions import (
    ProviderError,
    gateway_or_unavailable,
    provider_amount,
)
from plugins import gateway as gateways
from plugins.paypal.gateway import NAME
from vbwd.exceptions import BusinessRuleError, NotFound, ServiceUnavailable

ORDER_NOT_FOUND = "Order not found"
MISMATCH = "Payment received but it does not match the invoice; staff will review it"


def paypal_order_capture(*, order_id: str, user) -> dict:
    """Captures the caller's approved order and records it; returns the CaptureOrder body."""
    payment = (
        Payment.objects.filter(gateway=NAME, session_id=order_id, user_id=user.pk)
        .order_by("-created_at")
        .first()
    )
    if payment is None:
        raise NotFound(ORDER_NOT_FOUND)
    gateway = gateway_or_unavailable(NAME)
    provider_call_allowed("Capturing a PayPal order")
    try:
        capture = gateway.capture_order(order_id, claim_id=str(payment.pk))
    except gateways.NotConfigured:
        raise ServiceUnavailable(f"{NAME} is not configured") from None
    except (gateways.GatewayError, gateways.ProviderUnavailable) as error:
        raise ProviderError(f"Payment provider error: {error}") from None
    if capture.status == "COMPLETED" and capture.capture_id:
        currency = capture.currency or payment.currency
        result = invoice_capture(
            invoice_id=payment.invoice_id,
            gateway=NAME,
            external_id=capture.capture_id,
            amount=provider_amount(capture.amount_minor, currency),
            currency=currency,
            payment_id=payment.pk,
            actor_type=ActorType.PROVIDER,
            actor_label=NAME,
        )
        if not result.paid:
            raise BusinessRuleError(MISMATCH)
    invoice = Invoice.objects.only("status").get(pk=payment.invoice_id)
    return {
        "status": capture.status,
        "invoice_id": payment.invoice_id,
        "invoice_status": invoice.status,
        "capture_id": capture.capture_id,
    }
