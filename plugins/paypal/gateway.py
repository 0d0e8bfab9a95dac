"""PayPal behind the payment gateway interface, with the official ``paypal-server-sdk``.

- Sessions are Orders v2 orders (intent CAPTURE) of the invoice total with its lines; the
  customer approves the order on PayPal's page (the ``payer-action`` link is ``session_url``)
  and the order is then captured: by ``capture-order``, by a status check, or by the webhook of
  the approval, whichever comes first. The session id is the order id; the external id of a
  payment is the id of its capture.
- Every call that creates something carries a ``PayPal-Request-Id`` derived from the claim it
  belongs to: the order the session claim's key, its capture ``capture:<claiming payment>``, a
  refund the refund claim's key (a key longer than PayPal takes is sent as its SHA-256).
  PayPal answers a repeat with the first answer, so a retry after a timeout never creates a
  second order, capture or refund.
- Webhooks are verified by PayPal's verify-webhook-signature call with the configured webhook
  id and the ``PAYPAL-TRANSMISSION-*`` headers, the event passed on byte for byte as received.
  That call is not among the SDK's controllers; it is made through the SDK's own request
  pipeline (its OAuth token, base URL and HTTP client).
- The base URL is PayPal's own for the mode unless ``api_base`` names another: the SDK's
  configuration takes it through ``get_base_uri``. OAuth tokens are kept per process until
  they expire.
- Money crosses as ``Decimal``; PayPal's decimal strings become minor units of the catalog's
  decimal places for what billing reads back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from decimal import Decimal, InvalidOperation

import requests
from apimatic_core.authentication.multiple.single_auth import Single
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from apimatic_core.request_builder import RequestBuilder
from apimatic_core.response_handler import ResponseHandler
from apimatic_core.types.parameter import Parameter
from paypalserversdk.api_helper import APIHelper
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.controllers.base_controller import BaseController
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.exceptions.error_exception import ErrorException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.http.http_method_enum import HttpMethodEnum
from paypalserversdk.models.amount_breakdown import AmountBreakdown
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent
from paypalserversdk.models.item import Item
from paypalserversdk.models.money import Money
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.paypal_experience_user_action import PaypalExperienceUserAction
from paypalserversdk.models.paypal_wallet import PaypalWallet
from paypalserversdk.models.paypal_wallet_context_shipping_preference import (
    PaypalWalletContextShippingPreference,
)
from paypalserversdk.models.paypal_wallet_experience_context import (
    PaypalWalletExperienceContext,
)
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from billing.catalog.selectors import currency_places
from plugins import gateway as gateways
from plugins.gateway import EventAction, to_minor_units
from plugins.paypal.apps import PAYPAL_APIS
from plugins.state import config_value

NAME = "paypal"
# The success URL names the session before PayPal has made the order: our claim's payment id
# stands for it (session-status accepts either); PayPal adds its own ``token`` (the order id).
SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
VERIFY_PATH = "/v1/notifications/verify-webhook-signature"
MAX_REQUEST_ID_LENGTH = 108
TRANSMISSION_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}
# The currencies PayPal takes payments in.
CURRENCIES = frozenset({
    "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR", "MXN",
    "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
})  # fmt: skip
CAPTURE_EVENTS = {"PAYMENT.CAPTURE.COMPLETED"}
FAIL_EVENTS = {"PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"}
REFUND_EVENTS = {"PAYMENT.CAPTURE.REFUNDED", "PAYMENT.CAPTURE.REVERSED"}
APPROVED_EVENT = "CHECKOUT.ORDER.APPROVED"


def _setting(key: str):
    return config_value(NAME, key)


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _value(amount: Decimal, currency: str, places: int) -> str:
    to_minor_units(amount, currency, places)  # refuses more places than the currency has
    return f"{amount:.{places}f}"


def _minor(amount: dict | None) -> tuple[int | None, str | None]:
    """A PayPal money object as (minor units of the catalog's places, currency)."""
    if not isinstance(amount, dict) or not amount.get("currency_code"):
        return None, None
    currency = str(amount["currency_code"]).upper()
    try:
        value = Decimal(str(amount.get("value")))
    except InvalidOperation:
        return None, currency
    return int(value.scaleb(currency_places(currency)).to_integral_value()), currency


def _capture_of(order: dict) -> dict | None:
    """The (first) capture of an order's purchase unit, once it has one."""
    for unit in order.get("purchase_units") or []:
        captures = ((unit.get("payments") or {}).get("captures")) or []
        if captures:
            return captures[0]
    return None


def _custom_id(order: dict) -> str | None:
    units = order.get("purchase_units") or []
    return units[0].get("custom_id") if units else None


def request_id(key: str | None) -> str | None:
    """A claim's key as PayPal takes it in PayPal-Request-Id (at most 108 characters)."""
    if not key or len(key) <= MAX_REQUEST_ID_LENGTH:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _capture_key(claim_id: str | None, order_id: str) -> str:
    return f"capture:{claim_id or order_id}"


@dataclasses.dataclass(frozen=True)
class OrderCapture:
    """What capturing an order left at PayPal."""

    order_id: str
    capture_id: str | None
    status: str  # the capture's: COMPLETED, PENDING, DECLINED, FAILED (or the order's)
    amount_minor: int | None
    currency: str | None
    claim_id: str | None


# --- the SDK client with this plugin's settings ------------------------------------------------

_tokens: dict[tuple, object] = {}
_tokens_lock = threading.Lock()


class _Configuration(Configuration):
    """The SDK's configuration whose base URL is the plugin's ``api_base`` when it names one."""

    def __init__(self, *, api_base: str, **kwargs):
        self._api_base = api_base.rstrip("/")
        super().__init__(**kwargs)

    def get_base_uri(self, server=Server.DEFAULT):
        return self._api_base or super().get_base_uri(server)


def _client() -> PaypalServersdkClient:
    client_id, client_secret = _setting("client_id"), _setting("client_secret")
    if not client_id or not client_secret:
        raise gateways.NotConfigured("PayPal client id or secret is not configured")
    mode = _setting("mode") or "sandbox"
    api_base = str(_setting("api_base") or "") or PAYPAL_APIS.get(mode, PAYPAL_APIS["sandbox"])
    cache_key = (api_base, str(client_id), hashlib.sha256(str(client_secret).encode()).digest())

    def remember(token) -> None:
        with _tokens_lock:
            _tokens[cache_key] = token

    with _tokens_lock:
        token = _tokens.get(cache_key)
    config = _Configuration(
        api_base=api_base,
        timeout=int(_setting("timeout_seconds") or 30),
        max_retries=0,  # retries are ours to make, with the claim's request id
        environment=Environment.PRODUCTION if mode == "live" else Environment.SANDBOX,
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id=str(client_id),
            o_auth_client_secret=str(client_secret),
            o_auth_token=token,
            o_auth_on_token_update=remember,
        ),
    )
    return PaypalServersdkClient(config=config)


def _description(error: ApiException) -> str:
    name = getattr(error, "name", None)
    details = getattr(error, "details", None) or []
    issue = getattr(details[0], "issue", None) if details else None
    message = getattr(error, "message", None) or error.reason
    return " ".join(part for part in (name, f"({issue})" if issue else None, message) if part)


def _issue(error: ApiException) -> str | None:
    details = getattr(error, "details", None) or []
    return getattr(details[0], "issue", None) if details else None


def _call(function, *args, **kwargs) -> dict:
    """One PayPal call as the JSON PayPal answered, with its errors in the interface's terms:
    a refusal is a GatewayError; no answer (network, timeout, 429, 5xx) is
    ProviderUnavailable; refused credentials are NotConfigured."""
    try:
        response = function(*args, **kwargs)
    except AuthValidationException as error:
        raise gateways.NotConfigured(f"PayPal refused the client credentials: {error}") from error
    except requests.RequestException as error:
        raise gateways.ProviderUnavailable(f"PayPal did not answer: {error}") from error
    except ApiException as error:
        if error.response_code == 401:
            raise gateways.NotConfigured(
                f"PayPal refused the client credentials: {_description(error)}"
            ) from error
        if error.response_code == 429 or error.response_code >= 500:
            raise gateways.ProviderUnavailable(_description(error)) from error
        raise gateways.GatewayError(_description(error)) from error
    text = getattr(response, "text", None)
    return json.loads(text) if text else {}


def _verify(client: PaypalServersdkClient, body: str, verify_id: str):
    """POST /v1/notifications/verify-webhook-signature through the SDK's request pipeline."""
    controller = BaseController(client.global_configuration)
    return (
        controller.new_api_call_builder.request(
            RequestBuilder()
            .server(Server.DEFAULT)
            .path(VERIFY_PATH)
            .http_method(HttpMethodEnum.POST)
            .header_param(Parameter().key("Content-Type").value("application/json"))
            .header_param(Parameter().key("PayPal-Request-Id").value(verify_id))
            .header_param(Parameter().key("accept").value("application/json"))
            .body_param(Parameter().value(body))
            .auth(Single("Oauth2"))
        )
        .response(
            ResponseHandler()
            .deserializer(APIHelper.json_deserialize)
            .is_api_response(True)
            .local_error("default", "The error response.", ErrorException)
        )
        .execute()
    )


class PayPalGateway(gateways.PaymentGateway):
    name = NAME
    supports_saved_methods = False
    supports_partial_refunds = True
    currencies = CURRENCIES

    # --- orders ------------------------------------------------------------------------------

    @staticmethod
    def _items(request: gateways.PaymentRequest) -> list[Item] | None:
        """The invoice lines as order items, when they add up to the total with no credit line
        (PayPal takes no negative amounts); otherwise the order shows its total only."""
        total = sum((line.amount for line in request.lines), Decimal(0))
        if (
            not request.lines
            or total != request.amount
            or any(line.amount < 0 for line in request.lines)
        ):
            return None
        places = request.currency_places
        return [
            Item(
                name=(
                    line.description
                    if line.quantity == 1
                    else f"{line.description} × {line.quantity}"
                )[:127],
                unit_amount=Money(
                    currency_code=request.currency,
                    value=_value(line.amount, request.currency, places),
                ),
                quantity="1",
            )
            for line in request.lines
        ]

    def create_session(self, request: gateways.PaymentRequest) -> gateways.PaymentSession:
        client = _client()
        claim = request.metadata.get("payment_id") or ""
        total = _value(request.amount, request.currency, request.currency_places)
        items = self._items(request)
        unit = PurchaseUnitRequest(
            amount=AmountWithBreakdown(
                currency_code=request.currency,
                value=total,
                breakdown=AmountBreakdown(
                    item_total=Money(currency_code=request.currency, value=total)
                )
                if items
                else None,
            ),
            reference_id=request.invoice_id,
            description=request.description[:127],
            custom_id=claim or None,
            invoice_id=request.invoice_id,
            items=items,
        )
        order_request = OrderRequest(
            intent=CheckoutPaymentIntent.CAPTURE,
            purchase_units=[unit],
            payment_source=PaymentSource(
                paypal=PaypalWallet(
                    experience_context=PaypalWalletExperienceContext(
                        return_url=request.success_url.replace(SESSION_ID_PLACEHOLDER, claim),
                        cancel_url=request.cancel_url,
                        shipping_preference=PaypalWalletContextShippingPreference.NO_SHIPPING,
                        user_action=PaypalExperienceUserAction.PAY_NOW,
                    )
                )
            ),
        )
        order = _call(
            client.orders.create_order,
            {
                "body": order_request,
                "paypal_request_id": request_id(request.idempotency_key),
                "prefer": "return=representation",
            },
        )
        approve = next(
            (
                link.get("href")
                for link in order.get("links") or []
                if link.get("rel") in ("payer-action", "approve")
            ),
            None,
        )
        return gateways.PaymentSession(
            session_id=order["id"],
            session_url=approve,
            client_secret=None,
            expires_at=None,
            saves_payment_method=False,
        )

    def _order(self, client, order_id: str) -> dict:
        return _call(client.orders.get_order, {"id": order_id})

    def capture_order(self, order_id: str, *, claim_id: str | None = None) -> OrderCapture:
        """Captures an approved order; an order captured before answers with that capture."""
        client = _client()
        try:
            order = _call(
                client.orders.capture_order,
                {
                    "id": order_id,
                    "paypal_request_id": _capture_key(claim_id, order_id),
                    "prefer": "return=representation",
                },
            )
        except gateways.GatewayError as error:
            if _issue(error.__cause__) != "ORDER_ALREADY_CAPTURED":
                raise
            order = self._order(client, order_id)
        return self._captured(order, claim_id)

    @staticmethod
    def _captured(order: dict, claim_id: str | None) -> OrderCapture:
        capture = _capture_of(order) or {}
        amount_minor, currency = _minor(capture.get("amount"))
        return OrderCapture(
            order_id=order.get("id"),
            capture_id=capture.get("id"),
            status=capture.get("status") or order.get("status") or "",
            amount_minor=amount_minor,
            currency=currency,
            claim_id=capture.get("custom_id") or _custom_id(order) or claim_id,
        )

    def session_status(self, session_id: str) -> gateways.SessionStatus:
        """Reads the order; an order the customer approved is captured now (the same capture
        whoever asks first)."""
        client = _client()
        order = self._order(client, session_id)
        if order.get("status") == "APPROVED":
            capture = self.capture_order(session_id, claim_id=_custom_id(order))
        else:
            capture = self._captured(order, _custom_id(order))
        status = {"COMPLETED": "complete", "DECLINED": "failed", "FAILED": "failed"}.get(
            capture.status, "open"
        )
        if order.get("status") == "VOIDED":
            status = "expired"
        return gateways.SessionStatus(
            session_id=session_id,
            status=status,
            payment_status=capture.status,
            external_payment_id=capture.capture_id if status == "complete" else None,
            amount_minor=capture.amount_minor,
            currency=capture.currency,
        )

    # --- webhooks ----------------------------------------------------------------------------

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> gateways.WebhookEvent:
        webhook_id = _setting("webhook_id")
        if not webhook_id:
            raise gateways.NotConfigured("Webhook secret is not configured")
        transmission = {key: _header(headers, name) for key, name in TRANSMISSION_HEADERS.items()}
        if not all(transmission.values()):
            raise gateways.InvalidSignature("PAYPAL-TRANSMISSION-* headers are missing")
        try:
            raw = body.decode("utf-8")
            event = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as error:
            raise gateways.InvalidSignature(str(error)) from None
        if not isinstance(event, dict) or not event.get("id") or not event.get("event_type"):
            raise gateways.InvalidSignature("not a PayPal event")
        # The event goes back to PayPal exactly as it arrived: re-encoding it could change the
        # bytes PayPal signed.
        fields = {**transmission, "webhook_id": str(webhook_id)}
        verification = json.dumps(fields)[:-1] + ', "webhook_event": ' + raw + "}"
        # The request id names exactly what is asked: another body is another question.
        verify_id = f"verify:{hashlib.sha256(verification.encode()).hexdigest()}"
        answer = _call(_verify, _client(), verification, verify_id)
        if answer.get("verification_status") != "SUCCESS":
            raise gateways.InvalidSignature("PayPal did not verify the delivery")
        return self._event(event)

    def _event(self, event: dict) -> gateways.WebhookEvent:
        kind = event["event_type"]
        resource = event.get("resource") or {}
        common = {"event_id": event["id"], "event_type": kind, "payload": event}
        if kind == APPROVED_EVENT:
            # Completed by complete_event: the order is captured first.
            return gateways.WebhookEvent(
                **common,
                session_id=resource.get("id"),
                payment_id=_custom_id(resource),
                invoice_id=((resource.get("purchase_units") or [{}])[0]).get("invoice_id"),
            )
        order_id = ((resource.get("supplementary_data") or {}).get("related_ids") or {}).get(
            "order_id"
        )
        named = {
            "session_id": order_id,
            "payment_id": resource.get("custom_id"),
            "invoice_id": resource.get("invoice_id"),
        }
        if kind in CAPTURE_EVENTS:
            amount_minor, currency = _minor(resource.get("amount"))
            return gateways.WebhookEvent(
                **common,
                **named,
                action=EventAction.CAPTURE,
                external_payment_id=resource.get("id"),
                amount_minor=amount_minor,
                currency=currency,
            )
        if kind in FAIL_EVENTS:
            return gateways.WebhookEvent(
                **common,
                **named,
                action=EventAction.FAIL,
                external_payment_id=resource.get("id"),
                failure_reason=f"PayPal: {kind}",
            )
        if kind in REFUND_EVENTS:
            up = next(
                (
                    link.get("href") or ""
                    for link in resource.get("links") or []
                    if link.get("rel") == "up"
                ),
                "",
            )
            total = (resource.get("seller_payable_breakdown") or {}).get("total_refunded_amount")
            refunded_minor, currency = _minor(total or resource.get("amount"))
            return gateways.WebhookEvent(
                **common,
                action=EventAction.REFUND,
                external_payment_id=up.rstrip("/").rsplit("/", 1)[-1] or None,
                refunded_total_minor=refunded_minor,
                currency=currency,
                refund_id=resource.get("id"),
            )
        return gateways.WebhookEvent(**common)

    def completion_needed(self, event: gateways.WebhookEvent) -> bool:
        """An approved order is captured before the event is applied."""
        return event.event_type == APPROVED_EVENT and bool(event.session_id)

    def complete_event(self, event: gateways.WebhookEvent) -> gateways.WebhookEvent:
        if not self.completion_needed(event):
            return event
        capture = self.capture_order(event.session_id, claim_id=event.payment_id)
        common = {
            "session_id": capture.order_id,
            "payment_id": capture.claim_id,
            "external_payment_id": capture.capture_id,
        }
        if capture.status == "COMPLETED":
            return dataclasses.replace(
                event,
                **common,
                action=EventAction.CAPTURE,
                amount_minor=capture.amount_minor,
                currency=capture.currency,
            )
        if capture.status in ("DECLINED", "FAILED"):
            return dataclasses.replace(
                event, **common, action=EventAction.FAIL, failure_reason=f"PayPal: {capture.status}"
            )
        # PENDING: PayPal's PAYMENT.CAPTURE.COMPLETED settles it later.
        return dataclasses.replace(event, **common, action=EventAction.IGNORE)

    # --- refunds -----------------------------------------------------------------------------

    def refund(
        self,
        *,
        external_payment_id: str,
        amount: Decimal,
        currency: str,
        currency_places: int,
        idempotency_key: str | None = None,
    ) -> gateways.RefundResult:
        client = _client()
        refund = _call(
            client.payments.refund_captured_payment,
            {
                "capture_id": external_payment_id,
                "paypal_request_id": request_id(idempotency_key),
                "prefer": "return=representation",
                "body": RefundRequest(
                    amount=Money(
                        currency_code=currency.upper(),
                        value=_value(amount, currency, currency_places),
                    )
                ),
            },
        )
        status = {"COMPLETED": "succeeded", "PENDING": "pending"}.get(
            refund.get("status"), "failed"
        )
        value = (refund.get("amount") or {}).get("value") or "0"
        return gateways.RefundResult(
            refund_id=refund["id"],
            status=status,
            amount=Decimal(str(value)).quantize(Decimal(1).scaleb(-currency_places)),
            currency=currency.upper(),
        )

    def dashboard_url(self, external_payment_id: str) -> str | None:
        if not external_payment_id:
            return None
        host = "www.paypal.com" if _setting("mode") == "live" else "www.sandbox.paypal.com"
        return f"https://{host}/activity/payment/{external_payment_id}"
