"""Starting the payment of an invoice (``POST /user/invoices/<id>/pay``).

Starting a payment never marks a non-zero invoice paid: an offline method (bank transfer) only
returns the transfer details, a gateway method opens (or reuses) a provider checkout session and
records a PENDING payment. Capture happens later through a verified provider event, a status
check or staff (``invoice_capture``). Only a zero total is captured at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.db import transaction

from accounts.models import UserDetails
from billing.catalog.models import PaymentMethod
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places
from billing.catalog.services.payment_methods import (
    canonical_locale,
    localized_texts,
    payment_method_is_available,
)
from billing.invoices.models import Invoice, InvoiceStatus, Payment
from billing.invoices.selectors import invoices_base
from billing.invoices.services import sessions
from billing.invoices.services.capture import invoice_capture_zero
from vbwd.exceptions import (
    BusinessRuleError,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from vbwd.idempotency import NO_RECOVERY, Recovery

NOT_FOUND = "Invoice not found"

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
    """What the customer does next (the PaymentStart shape)."""

    action: str
    invoice: Invoice
    message: str
    payment: Payment | None = None
    instructions: dict | None = None  # BankTransferInstructions
    session: dict | None = None  # GatewaySession


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
    method = sessions.invoice_payment_method(invoice)
    if method is None:
        raise BusinessRuleError(
            "No payment method is available for this invoice", code="item_unavailable"
        )
    if not payment_method_is_available(method):
        raise BusinessRuleError(
            f"Payment method '{method.name}' is currently unavailable", code="item_unavailable"
        )
    return method


def bank_transfer_instructions(
    invoice: Invoice, method: PaymentMethod, *, locale: str | None
) -> dict:
    """BankTransferInstructions: the method's texts for ``locale`` (default: the
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
        "amount": format_money(invoice.amount_due, currency_places(invoice.currency)),
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


# --- the use case -------------------------------------------------------------------------------


# Recovery point of a payment start that captured a zero total (the invoice id).
ZERO_TOTAL_PAID = "zero_total_paid"


def invoice_payment_start(
    *,
    invoice_id,
    user,
    locale: str | None = None,
    idempotency_key: str | None = None,
    recovery: Recovery = NO_RECOVERY,
) -> PaymentStart:
    """Starts paying the caller's invoice with its payment method (else the default): a zero
    total is captured (PAID), an offline method returns bank-transfer instructions and changes
    nothing, a gateway method opens or reuses a checkout session with a PENDING payment. Never
    marks a non-zero invoice paid. A resumed request (``recovery``) that captured the zero total
    answers PAID again; one that opened a session gets that session back (the session claim is
    found by the invoice and keyed on ``idempotency_key``)."""
    paid_id = recovery.get(ZERO_TOTAL_PAID)
    if paid_id:
        return PaymentStart(
            action=PaymentAction.PAID, invoice=_reloaded(paid_id), message=MESSAGE_PAID
        )
    with transaction.atomic():
        invoice = _locked_own_invoice(invoice_id, user)
        _check_payable(invoice)
        if invoice.total_amount == 0:
            invoice_capture_zero(invoice_id=invoice.pk, actor=user)
            recovery.mark(ZERO_TOTAL_PAID, str(invoice.pk))
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
    payment, session, _created = sessions.payment_session_open(
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
