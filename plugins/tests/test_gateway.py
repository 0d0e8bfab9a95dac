"""The payment gateway interface (plugins/gateway.py) and a test double implementing it."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal

import pytest

from plugins.gateway import (
    ChargeResult,
    GatewayError,
    InvalidSignature,
    PaymentGateway,
    PaymentRequest,
    PaymentSession,
    RefundResult,
    SessionStatus,
    WebhookEvent,
    from_minor_units,
    to_minor_units,
)

SIGNATURE_HEADER = "X-Fake-Signature"


@dataclass
class _StoredPayment:
    session_id: str
    invoice_id: str
    currency: str
    amount_minor: int  # the provider's unit: cents, yen, fils
    refunded_minor: int = 0
    status: str = "open"
    external_payment_id: str | None = None


class FakeGateway(PaymentGateway):
    """An in-memory provider speaking minor units, with HMAC-SHA256 signed webhooks."""

    name = "fake"
    currencies = frozenset({"EUR", "JPY", "KWD"})

    def __init__(self, webhook_secret: str) -> None:
        self.webhook_secret = webhook_secret.encode()
        self.sessions: dict[str, _StoredPayment] = {}

    def create_session(self, request: PaymentRequest) -> PaymentSession:
        session_id = f"sess_{len(self.sessions) + 1}"
        self.sessions[session_id] = _StoredPayment(
            session_id=session_id,
            invoice_id=request.invoice_id,
            currency=request.currency,
            amount_minor=to_minor_units(request.amount, request.currency, request.currency_places),
        )
        return PaymentSession(
            session_id=session_id,
            session_url=f"https://pay.example.test/{session_id}",
            client_secret=None,
            expires_at=None,
        )

    def pay(self, session_id: str) -> str:
        """What the customer does on the hosted page (a test helper, not the interface)."""
        stored = self.sessions[session_id]
        stored.status = "complete"
        stored.external_payment_id = f"pay_{session_id}"
        return stored.external_payment_id

    def session_status(self, session_id: str) -> SessionStatus:
        stored = self.sessions[session_id]
        return SessionStatus(
            session_id=session_id,
            status=stored.status,
            payment_status="paid" if stored.status == "complete" else "unpaid",
            external_payment_id=stored.external_payment_id,
            amount_minor=stored.amount_minor,
            currency=stored.currency,
        )

    def sign(self, body: bytes) -> str:
        return hmac.new(self.webhook_secret, body, hashlib.sha256).hexdigest()

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(signature, self.sign(body)):
            raise InvalidSignature("signature does not match the body")
        payload = json.loads(body)
        data = payload["data"]
        return WebhookEvent(
            event_id=payload["id"],
            event_type=payload["type"],
            payload=payload,
            action="capture" if payload["type"] == "payment.succeeded" else "ignore",
            external_payment_id=data["payment"],
            invoice_id=data["invoice"],
            amount_minor=data["amount"],
            currency=data["currency"],
        )

    def refund(
        self,
        *,
        external_payment_id: str,
        amount: Decimal,
        currency: str,
        currency_places: int,
        idempotency_key: str | None = None,
    ) -> RefundResult:
        stored = next(
            payment
            for payment in self.sessions.values()
            if payment.external_payment_id == external_payment_id
        )
        minor = to_minor_units(amount, currency, currency_places)
        if stored.refunded_minor + minor > stored.amount_minor:
            raise GatewayError("refund exceeds the captured amount")
        stored.refunded_minor += minor
        return RefundResult(
            refund_id=f"re_{external_payment_id}_{stored.refunded_minor}",
            status="succeeded",
            amount=from_minor_units(minor, currency_places),
            currency=currency,
        )


def _request(amount: str = "19.99", currency: str = "EUR", places: int = 2) -> PaymentRequest:
    return PaymentRequest(
        invoice_id="inv-1",
        user_id="user-1",
        amount=Decimal(amount),
        currency=currency,
        currency_places=places,
        description="Pro plan",
        success_url="https://app.example.test/ok",
        cancel_url="https://app.example.test/cancel",
    )


def _webhook_body(amount_minor: int, currency: str = "EUR") -> bytes:
    return json.dumps(
        {
            "id": "evt_1",
            "type": "payment.succeeded",
            "data": {
                "payment": "pay_sess_1",
                "invoice": "inv-1",
                "amount": amount_minor,
                "currency": currency,
            },
        }
    ).encode()


# --- minor units -------------------------------------------------------------------------------
# The places are the caller's (billing reads them from the catalog); the gateway keeps no table.


@pytest.mark.parametrize(
    ("amount", "currency", "places", "minor"),
    [
        ("9.99", "EUR", 2, 999),
        ("9.9", "EUR", 2, 990),
        ("10", "EUR", 2, 1000),
        ("0.01", "eur", 2, 1),
        ("1500", "JPY", 0, 1500),
        ("12.345", "KWD", 3, 12345),
        ("0.5", "KWD", 3, 500),
    ],
)
def test_to_minor_units(amount, currency, places, minor):
    result = to_minor_units(Decimal(amount), currency, places)

    assert result == minor
    assert type(result) is int


@pytest.mark.parametrize(
    ("minor", "places", "amount"),
    [
        (999, 2, "9.99"),
        (1000, 2, "10.00"),
        (1, 2, "0.01"),
        (1500, 0, "1500"),
        (12345, 3, "12.345"),
        (500, 3, "0.500"),
    ],
)
def test_from_minor_units_keeps_the_currency_places(minor, places, amount):
    result = from_minor_units(minor, places)

    assert isinstance(result, Decimal)
    # str() compares the exponent too: 10.00 EUR, not 10 or 1E+1.
    assert str(result) == amount


@pytest.mark.parametrize(
    ("amount", "currency", "places"),
    [("9.999", "EUR", 2), ("0.001", "EUR", 2), ("1500.5", "JPY", 0), ("1.2345", "KWD", 3)],
)
def test_to_minor_units_refuses_more_places_than_the_currency_has(amount, currency, places):
    with pytest.raises(ValueError, match=rf"^{amount} has more decimal places than {currency}"):
        to_minor_units(Decimal(amount), currency, places)


def test_trailing_zeros_beyond_the_places_are_not_extra_precision():
    assert to_minor_units(Decimal("9.9900"), "EUR", 2) == 999
    assert to_minor_units(Decimal("1500.00"), "JPY", 0) == 1500


def test_the_places_given_decide_not_the_currency_code():
    # A currency the catalog keeps with 0 places sends whole units, whatever its code.
    assert to_minor_units(Decimal("1500"), "EUR", 0) == 1500
    assert str(from_minor_units(1500, 0)) == "1500"
    assert to_minor_units(Decimal("15.00"), "JPY", 2) == 1500
    assert str(from_minor_units(1500, 2)) == "15.00"


# --- the abstract class ------------------------------------------------------------------------


def test_a_gateway_missing_an_abstract_method_cannot_be_instantiated():
    class WithoutRefund(PaymentGateway):
        create_session = FakeGateway.create_session
        session_status = FakeGateway.session_status
        parse_webhook = FakeGateway.parse_webhook

    # Python 3.11 writes "abstract method refund", 3.12 quotes the name.
    with pytest.raises(TypeError, match=r"abstract method '?refund'?$"):
        WithoutRefund()


def test_the_interface_declares_exactly_the_four_required_methods():
    assert PaymentGateway.__abstractmethods__ == frozenset(
        {"create_session", "session_status", "parse_webhook", "refund"}
    )


def test_charge_saved_method_is_refused_unless_a_gateway_supports_it():
    gateway = FakeGateway("whsec")

    with pytest.raises(GatewayError, match=r"^fake cannot charge a saved payment method$"):
        gateway.charge_saved_method(saved_payment_method_id="pm_1", request=_request())


def test_capability_flags_default_to_no_saved_methods_and_partial_refunds():
    assert PaymentGateway.supports_saved_methods is False
    assert PaymentGateway.supports_partial_refunds is True
    assert PaymentGateway.currencies == frozenset()


def test_supports_currency_with_a_currency_list():
    gateway = FakeGateway("whsec")

    assert gateway.supports_currency("EUR") is True
    assert gateway.supports_currency("jpy") is True
    assert gateway.supports_currency("USD") is False


def test_supports_currency_without_a_currency_list_takes_every_currency():
    class AnyCurrency(FakeGateway):
        currencies = frozenset()

    gateway = AnyCurrency("whsec")

    assert gateway.supports_currency("USD") is True
    assert gateway.supports_currency("XYZ") is True


# --- the test double through the interface -----------------------------------------------------


def test_a_session_keeps_the_amount_in_minor_units_inside_the_gateway():
    gateway = FakeGateway("whsec")

    session = gateway.create_session(_request("19.99", "EUR"))
    gateway.pay(session.session_id)
    status = gateway.session_status(session.session_id)

    assert session == PaymentSession(
        session_id="sess_1",
        session_url="https://pay.example.test/sess_1",
        client_secret=None,
        expires_at=None,
        saves_payment_method=False,
    )
    assert gateway.sessions["sess_1"].amount_minor == 1999
    assert status == SessionStatus(
        session_id="sess_1",
        status="complete",
        payment_status="paid",
        external_payment_id="pay_sess_1",
        amount_minor=1999,
        currency="EUR",
    )


def test_a_session_for_an_amount_the_currency_cannot_hold_is_refused():
    gateway = FakeGateway("whsec")

    with pytest.raises(ValueError, match="more decimal places than JPY allows"):
        gateway.create_session(_request("10.5", "JPY", places=0))
    assert gateway.sessions == {}


def test_parse_webhook_with_a_good_signature_returns_the_event_in_minor_units():
    gateway = FakeGateway("whsec")
    body = _webhook_body(12345, "KWD")

    event = gateway.parse_webhook({SIGNATURE_HEADER: gateway.sign(body)}, body)

    assert event == WebhookEvent(
        event_id="evt_1",
        event_type="payment.succeeded",
        payload=json.loads(body),
        action="capture",
        external_payment_id="pay_sess_1",
        invoice_id="inv-1",
        amount_minor=12345,
        currency="KWD",
    )
    assert type(event.amount_minor) is int


def test_parse_webhook_refuses_a_tampered_body():
    gateway = FakeGateway("whsec")
    signature = gateway.sign(_webhook_body(999))
    tampered = _webhook_body(1)

    with pytest.raises(InvalidSignature):
        gateway.parse_webhook({SIGNATURE_HEADER: signature}, tampered)


def test_parse_webhook_refuses_a_signature_made_with_another_secret():
    body = _webhook_body(999)
    signature = FakeGateway("another secret").sign(body)

    with pytest.raises(InvalidSignature):
        FakeGateway("whsec").parse_webhook({SIGNATURE_HEADER: signature}, body)


def test_parse_webhook_refuses_a_missing_signature():
    with pytest.raises(InvalidSignature):
        FakeGateway("whsec").parse_webhook({}, _webhook_body(999))


def test_a_partial_refund_returns_decimal_amounts():
    gateway = FakeGateway("whsec")
    session = gateway.create_session(_request("19.99", "EUR"))
    payment_id = gateway.pay(session.session_id)

    first = gateway.refund(
        external_payment_id=payment_id, amount=Decimal("5.50"), currency="EUR", currency_places=2
    )
    second = gateway.refund(
        external_payment_id=payment_id, amount=Decimal("14.49"), currency="EUR", currency_places=2
    )

    assert first == RefundResult(
        refund_id="re_pay_sess_1_550", status="succeeded", amount=Decimal("5.50"), currency="EUR"
    )
    assert str(first.amount) == "5.50"
    assert second.amount == Decimal("14.49")
    assert gateway.sessions["sess_1"].refunded_minor == 1999


def test_a_refund_beyond_the_captured_amount_is_a_gateway_error():
    gateway = FakeGateway("whsec")
    session = gateway.create_session(_request("19.99", "EUR"))
    payment_id = gateway.pay(session.session_id)
    gateway.refund(
        external_payment_id=payment_id, amount=Decimal("19.00"), currency="EUR", currency_places=2
    )

    with pytest.raises(GatewayError, match=r"^refund exceeds the captured amount$"):
        gateway.refund(
            external_payment_id=payment_id,
            amount=Decimal("1.00"),
            currency="EUR",
            currency_places=2,
        )
    assert gateway.sessions["sess_1"].refunded_minor == 1900


def test_results_are_frozen_dataclasses():
    result = ChargeResult(
        external_payment_id="pay_1", status="succeeded", amount=Decimal("1.00"), currency="EUR"
    )

    with pytest.raises(AttributeError):
        result.amount = Decimal("2.00")
    assert result.failure_reason is None
