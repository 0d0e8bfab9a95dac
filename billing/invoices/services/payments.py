"""Starting the payment of an invoice (API.md §11, ``POST /user/invoices/<id>/pay``).

Starting a payment never marks a non-zero invoice paid: an offline method (bank transfer) only
returns the transfer details, a gateway method opens (or reuses) a provider checkout session and
records a PENDING payment. Capture happens later through a verified provider event, a status
check or staff (``invoice_capture``). Only a zero total is captured at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import UserDetails
from audit.services import audit_record
from billing.catalog.models import AddOn, BillingPeriod, Currency, PaymentMethod, Plan
from billing.catalog.pricing import format_money
from billing.catalog.selectors import money_text
from billing.catalog.services.payment_methods import (
    canonical_locale,
    localized_texts,
    payment_method_is_available,
)
from billing.invoices.models import Invoice, InvoiceStatus, LineType, Payment, PaymentStatus
from billing.invoices.selectors import invoices_base
from billing.invoices.services.capture import invoice_capture_zero
from plugins import gateway as gateways
from vbwd.exceptions import (
    BusinessRuleError,
    DomainError,
    InvalidTransition,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)

NOT_FOUND = "Invoice not found"
# Replaced by the provider with the id of the session it creates (Stripe's template variable;
# the other gateways substitute it themselves).
SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"

MESSAGE_PAID = "Invoice paid."
MESSAGE_BANK_TRANSFER = (
    "Please transfer the amount using the bank details below. "
    "The invoice stays pending until the payment is received."
)
MESSAGE_REDIRECT = "Continue to the payment page to complete the payment."


class PaymentAction(enum.StrEnum):
    BANK_TRANSFER = "BANK_TRANSFER"
    REDIRECT = "REDIRECT"
    PAID = "PAID"


@dataclass(frozen=True)
class PaymentStart:
    """What the customer does next (the PaymentStart shape of API.md §2.7)."""

    action: str
    invoice: Invoice
    message: str
    payment: Payment | None = None
    instructions: dict | None = None  # BankTransferInstructions
    session: dict | None = None  # GatewaySession


class ProviderError(DomainError):
    status_code = 502
    code = "provider_error"


# --- helpers ------------------------------------------------------------------------------------


def _locked_own_invoice(invoice_id, user) -> Invoice:
    """The caller's invoice, row locked; 404 for an unknown id and another user's alike."""
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id, user_id=user.pk).first()
    if invoice is None:
        raise NotFound(NOT_FOUND)
    return invoice


def _check_payable(invoice: Invoice) -> None:
    if invoice.status == InvoiceStatus.PAID:
        raise InvalidTransition("Invoice already paid")
    if not invoice.is_open:
        raise InvalidTransition(f"Invoice is {invoice.status} and cannot be paid")


def _method_for(invoice: Invoice) -> PaymentMethod:
    """The invoice's payment method, else the default method; unavailable ones are refused."""
    method = None
    if invoice.payment_method:
        method = PaymentMethod.objects.filter(code=invoice.payment_method).first()
    if method is None:
        method = PaymentMethod.objects.filter(is_default=True).first()
    if method is None:
        raise BusinessRuleError(
            "No payment method is available for this invoice", code="item_unavailable"
        )
    if not payment_method_is_available(method):
        raise BusinessRuleError(
            f"Payment method '{method.name}' is currently unavailable", code="item_unavailable"
        )
    return method


def _places(currency: str) -> int:
    row = Currency.objects.filter(code=currency).only("decimal_places").first()
    return row.decimal_places if row is not None else 2


def bank_transfer_instructions(
    invoice: Invoice, method: PaymentMethod, *, locale: str | None
) -> dict:
    """BankTransferInstructions (API.md §2.7): the method's texts for ``locale`` (default: the
    owner's saved language) and the seller's bank account as printed on the invoice (its seller
    snapshot, so the response, the PDF and the e-mail name one account); the reference is the
    invoice number."""
    seller = invoice.seller or {}
    texts = localized_texts(method, locale or _saved_language(invoice.user_id))
    return {
        "method_code": method.code,
        "method_name": texts["name"] or method.name,
        "text": texts["instructions"],
        "account_holder": seller.get("bank_account_holder") or seller.get("company_name"),
        "bank_name": seller.get("bank_name"),
        "iban": seller.get("bank_iban"),
        "bic": seller.get("bank_bic"),
        "reference": invoice.invoice_number,
        "amount": format_money(invoice.amount_due, _places(invoice.currency)),
        "currency": invoice.currency,
        "due_date": invoice.due_date,
    }


def _saved_language(user_id) -> str | None:
    config = UserDetails.objects.filter(user_id=user_id).values_list("config", flat=True).first()
    language = config.get("language") if isinstance(config, dict) else None
    if not isinstance(language, str) or not language.strip():
        return None
    try:
        return canonical_locale(language)
    except ValidationFailed:
        return None


def _has_recurring_item(invoice: Invoice) -> bool:
    """A SUBSCRIPTION or ADD_ON line whose catalog item renews (not ONE_TIME)."""
    plan_ids = [
        line.catalog_item_id
        for line in invoice.lines.all()
        if line.type == LineType.SUBSCRIPTION and line.catalog_item_id
    ]
    addon_ids = [
        line.catalog_item_id
        for line in invoice.lines.all()
        if line.type == LineType.ADD_ON and line.catalog_item_id
    ]
    recurring = ~Q(billing_period=BillingPeriod.ONE_TIME)
    if plan_ids and Plan.objects.filter(recurring, pk__in=plan_ids).exists():
        return True
    return bool(addon_ids) and AddOn.objects.filter(recurring, pk__in=addon_ids).exists()


def _frontend_url() -> str:
    return str(getattr(settings, "VBWD_FRONTEND_URL", "http://localhost:5173")).rstrip("/")


def payment_request_for(
    invoice: Invoice, *, gateway: gateways.PaymentGateway, user, idempotency_key: str | None
) -> gateways.PaymentRequest:
    """The one-off payment of the invoice total as the gateway plugins expect it (API.md
    §24.2): invoice lines, metadata, success and cancel URLs of the frontend."""
    base = _frontend_url()
    return gateways.PaymentRequest(
        invoice_id=str(invoice.pk),
        user_id=str(invoice.user_id),
        amount=invoice.total_amount,
        currency=invoice.currency,
        description=f"Invoice {invoice.invoice_number}",
        success_url=f"{base}/pay/{gateway.name}/success?session_id={SESSION_ID_PLACEHOLDER}",
        cancel_url=f"{base}/pay/{gateway.name}/cancel?invoice={invoice.pk}",
        lines=tuple(
            gateways.PaymentLine(
                description=line.description, quantity=line.quantity, amount=line.gross_amount
            )
            for line in invoice.lines.all()
        ),
        customer_email=getattr(user, "email", None) or None,
        save_payment_method=gateway.supports_saved_methods and _has_recurring_item(invoice),
        idempotency_key=f"{invoice.user_id}:{idempotency_key}" if idempotency_key else None,
        metadata={"invoice_id": str(invoice.pk), "user_id": str(invoice.user_id)},
    )


def _open_session_payment(invoice: Invoice, gateway_name: str) -> Payment | None:
    """The newest PENDING session payment of this invoice at this gateway that has not expired."""
    now = timezone.now()
    return (
        Payment.objects.filter(
            invoice=invoice,
            gateway=gateway_name,
            status=PaymentStatus.PENDING,
            session_id__isnull=False,
            amount=invoice.total_amount,
            currency=invoice.currency,
        )
        .filter(Q(session_expires_at__isnull=True) | Q(session_expires_at__gt=now))
        .order_by("-created_at")
        .first()
    )


def session_data(payment: Payment, *, client_secret: str | None = None) -> dict:
    """GatewaySession (API.md §2.7) of a session payment."""
    return {
        "provider": payment.gateway,
        "session_id": payment.session_id,
        "session_url": payment.session_url,
        "client_secret": client_secret,
        "expires_at": payment.session_expires_at,
    }


def payment_session_open(
    *, invoice_id, user, gateway_name: str, idempotency_key: str | None = None
) -> tuple[Payment, dict, bool]:
    """Opens a provider checkout session for the caller's open, non-zero invoice, or returns the
    open one of the same invoice and gateway; records the PENDING payment. Returns (payment,
    GatewaySession, created). GatewayError → 502, NotConfigured → 503; nothing is recorded then.

    The invoice row stays locked during the provider call, so two concurrent requests for one
    invoice open one session."""
    try:
        gateway = gateways.gateway_for(gateway_name)
    except gateways.NotConfigured:
        raise ServiceUnavailable(f"{gateway_name} is not configured") from None
    with transaction.atomic():
        invoice = _locked_own_invoice(invoice_id, user)
        _check_payable(invoice)
        if invoice.total_amount <= 0:
            raise BusinessRuleError("Invoice total is zero; nothing to pay")
        if not gateway.supports_currency(invoice.currency):
            raise BusinessRuleError(
                f"Currency {invoice.currency} is not supported by {gateway_name}",
                code="item_unavailable",
            )
        existing = _open_session_payment(invoice, gateway_name)
        if existing is not None:
            return existing, session_data(existing), False
        request = payment_request_for(
            invoice, gateway=gateway, user=user, idempotency_key=idempotency_key
        )
        try:
            session = gateway.create_session(request)
        except gateways.NotConfigured:
            raise ServiceUnavailable(f"{gateway_name} is not configured") from None
        except gateways.GatewayError as error:
            raise ProviderError(f"Payment provider error: {error}") from None
        payment = Payment.objects.create(
            invoice=invoice,
            user=invoice.user,
            gateway=gateway_name,
            amount=invoice.total_amount,
            currency=invoice.currency,
            status=PaymentStatus.PENDING,
            session_id=session.session_id,
            session_url=session.session_url,
            session_expires_at=session.expires_at,
            provider_data={"saves_payment_method": bool(session.saves_payment_method)},
        )
        audit_record(
            action="payment.session_created",
            object_type="payment",
            object_id=payment.pk,
            subject_user_id=invoice.user_id,
            summary=(
                f"{gateway_name} checkout session {session.session_id} opened for "
                f"{invoice.invoice_number}: {money_text(invoice.total_amount, invoice.currency)}"
            )[:500],
            actor=user,
            after={"status": payment.status, "session_id": session.session_id},
        )
    return payment, session_data(payment, client_secret=session.client_secret), True


# --- the use case -------------------------------------------------------------------------------


def invoice_payment_start(
    *, invoice_id, user, locale: str | None = None, idempotency_key: str | None = None
) -> PaymentStart:
    """Starts paying the caller's invoice with its payment method (else the default): a zero
    total is captured (PAID), an offline method returns bank-transfer instructions and changes
    nothing, a gateway method opens or reuses a checkout session with a PENDING payment. Never
    marks a non-zero invoice paid."""
    with transaction.atomic():
        invoice = _locked_own_invoice(invoice_id, user)
        _check_payable(invoice)
        if invoice.total_amount == 0:
            invoice_capture_zero(invoice_id=invoice.pk, actor=user)
            return PaymentStart(
                action=PaymentAction.PAID, invoice=_reloaded(invoice.pk), message=MESSAGE_PAID
            )
    method = _method_for(invoice)
    if not method.plugin_id:
        return PaymentStart(
            action=PaymentAction.BANK_TRANSFER,
            invoice=invoice,
            instructions=bank_transfer_instructions(invoice, method, locale=locale),
            message=MESSAGE_BANK_TRANSFER,
        )
    payment, session, _created = payment_session_open(
        invoice_id=invoice.pk,
        user=user,
        gateway_name=method.plugin_id,
        idempotency_key=idempotency_key,
    )
    return PaymentStart(
        action=PaymentAction.REDIRECT,
        invoice=_reloaded(invoice.pk),
        payment=payment,
        session=session,
        message=MESSAGE_REDIRECT,
    )


def _reloaded(invoice_id) -> Invoice:
    return invoices_base().get(pk=invoice_id)
