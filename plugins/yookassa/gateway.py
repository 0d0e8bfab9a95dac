"""YooKassa behind the payment gateway interface, with the official ``yookassa`` SDK.

- Sessions: a payment with redirect confirmation; the customer confirms it on YooKassa's page
  (``session_url``) and comes back to the shop's success URL. The session id is YooKassa's
  payment id. When the invoice holds a recurring item YooKassa is asked to keep the payment
  method (``save_payment_method``) for off-session renewal charges with its
  ``payment_method_id``.
- Every call that creates something carries an ``Idempotence-Key`` derived from the claim it
  belongs to (YooKassa takes at most 64 characters: a longer key is sent as its SHA-256), so a
  retry after a timeout gets YooKassa's first answer back instead of a second payment.
- Webhooks are verified before they are read: the hex HMAC-SHA256 of the raw body with the
  configured webhook secret, in ``X-YooKassa-Signature``. A notification is only a hint: the
  payment (or refund) it names is read again from the API before anything is done with it.
- The SDK keeps its settings in class attributes and sends requests without a timeout; the
  calls here go through the SDK's own resource classes with a client of this plugin's settings
  (shop id, key, base URL, timeout) instead, so nothing global is changed.
- Money crosses as ``Decimal``; YooKassa's own decimal strings become minor units of the
  catalog's decimal places for what billing reads back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from decimal import Decimal

import requests
from yookassa import Payment as SdkPayment
from yookassa import Refund as SdkRefund
from yookassa.client import ApiClient
from yookassa.domain.common import RequestObject, UserAgent
from yookassa.domain.exceptions import (
    ApiError,
    BadRequestError,
    ForbiddenError,
    GoneError,
    InternalServerError,
    NotFoundError,
    ResponseProcessingError,
    TooManyRequestsError,
    UnauthorizedError,
)
from yookassa.domain.models.currency import Currency

from billing.catalog.selectors import currency_places
from plugins import gateway as gateways
from plugins.gateway import EventAction, to_minor_units
from plugins.state import config_value

NAME = "yookassa"
SIGNATURE_HEADER = "X-YooKassa-Signature"
MAX_KEY_LENGTH = 64
DASHBOARD = "https://yookassa.ru/my/payments"
# The success URL names the session before YooKassa has made it: our claim's payment id stands
# for it (session-status accepts either).
SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"

CURRENCIES = frozenset(
    value
    for key, value in vars(Currency).items()
    if not key.startswith("_") and isinstance(value, str)
)

REREAD_EVENTS = {"payment.succeeded", "payment.canceled", "refund.succeeded"}


def _setting(key: str):
    return config_value(NAME, key)


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def idempotence_key(key: str | None) -> str | None:
    """The claim's key as YooKassa takes it (at most 64 characters)."""
    if not key:
        return None
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _money(amount: Decimal, currency: str, places: int) -> dict:
    to_minor_units(amount, currency, places)  # refuses more places than the currency has
    return {"value": f"{amount:.{places}f}", "currency": currency.upper()}


def _minor(amount, currency: str | None) -> int | None:
    """A YooKassa amount object as minor units of the catalog's places for its currency."""
    if amount is None or not currency:
        return None
    places = currency_places(currency.upper())
    return int(Decimal(str(amount.value)).scaleb(places).to_integral_value())


# --- the SDK's resources with this plugin's connection settings ---------------------------------


class _Client(ApiClient):
    """The SDK's API client, set up from the plugin's settings (not the SDK's class-level
    configuration), with a timeout on every request and no answer reported as such."""

    def __init__(self):
        shop_id, secret_key = _setting("shop_id"), _setting("secret_key")
        if not shop_id or not secret_key:
            raise gateways.NotConfigured("YooKassa shop id or secret key is not configured")
        self.configuration = type("Settings", (), {"verify": None})()
        self.endpoint = str(_setting("api_base") or "").rstrip("/")
        self.shop_id = str(shop_id)
        self.shop_password = str(secret_key)
        self.auth_token = None
        self.timeout = int(_setting("timeout_seconds") or 30)
        self.max_attempts = 0  # retries are ours to make, with the claim's key
        self.user_agent = UserAgent()

    def request(self, method="", path="", query_params=None, headers=None, body=None):
        if isinstance(body, RequestObject):
            body.validate()
            body = dict(body)
        request_headers = self.prepare_request_headers(headers)
        session = requests.Session()
        try:
            response = session.request(
                method,
                self.endpoint + path,
                params=query_params,
                headers=request_headers,
                json=body,
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise gateways.ProviderUnavailable(f"YooKassa did not answer: {error}") from error
        finally:
            session.close()
        if response.status_code != 200:
            _raise_for(response)
        return response.json()


def _raise_for(response) -> None:
    try:
        content = response.json()
    except ValueError:
        content = {"description": response.text[:200]}
    error_class = {
        BadRequestError.HTTP_CODE: BadRequestError,
        ForbiddenError.HTTP_CODE: ForbiddenError,
        NotFoundError.HTTP_CODE: NotFoundError,
        TooManyRequestsError.HTTP_CODE: TooManyRequestsError,
        UnauthorizedError.HTTP_CODE: UnauthorizedError,
        ResponseProcessingError.HTTP_CODE: ResponseProcessingError,
        InternalServerError.HTTP_CODE: InternalServerError,
        GoneError.HTTP_CODE: GoneError,
    }.get(response.status_code, ApiError)
    raise error_class(content if isinstance(content, dict) else {})


class _Payment(SdkPayment):
    def __init__(self):
        self.client = _Client()


class _Refund(SdkRefund):
    def __init__(self):
        self.client = _Client()


def _description(error: ApiError) -> str:
    content = error.content or {}
    text = content.get("description") or content.get("code") or type(error).__name__
    return str(text)


def _call(function, *args, **kwargs):
    """One YooKassa call with its errors in the interface's terms: a refusal is a GatewayError;
    no answer (network, timeout, 202 still processing, 429, 5xx) is ProviderUnavailable."""
    try:
        return function(*args, **kwargs)
    except UnauthorizedError as error:
        raise gateways.NotConfigured(
            f"YooKassa refused the shop credentials: {_description(error)}"
        ) from error
    except (BadRequestError, ForbiddenError, NotFoundError, GoneError) as error:
        raise gateways.GatewayError(_description(error)) from error
    except ApiError as error:
        raise gateways.ProviderUnavailable(_description(error)) from error


class YooKassaGateway(gateways.PaymentGateway):
    name = NAME
    supports_saved_methods = True
    supports_partial_refunds = True
    currencies = CURRENCIES

    # --- sessions ----------------------------------------------------------------------------

    def create_session(self, request: gateways.PaymentRequest) -> gateways.PaymentSession:
        claim = request.metadata.get("payment_id") or ""
        params = {
            "amount": _money(request.amount, request.currency, request.currency_places),
            "capture": True,
            "confirmation": {
                "type": "redirect",
                "return_url": request.success_url.replace(SESSION_ID_PLACEHOLDER, claim),
            },
            "description": request.description[:128],
            "metadata": dict(request.metadata),
        }
        if request.save_payment_method:
            params["save_payment_method"] = True
        payment = _call(
            _Payment.create, params, idempotency_key=idempotence_key(request.idempotency_key)
        )
        confirmation = payment.confirmation
        return gateways.PaymentSession(
            session_id=payment.id,
            session_url=getattr(confirmation, "confirmation_url", None),
            client_secret=None,
            expires_at=None,
            saves_payment_method=request.save_payment_method,
        )

    def session_status(self, session_id: str) -> gateways.SessionStatus:
        payment = _call(_Payment.find_one, session_id)
        status = {"succeeded": "complete", "canceled": "failed"}.get(payment.status, "open")
        reason = getattr(payment.cancellation_details, "reason", None)
        if payment.status == "canceled" and reason == "expired_on_confirmation":
            status = "expired"
        currency = getattr(payment.amount, "currency", None)
        saved = self._saved(payment)
        return gateways.SessionStatus(
            session_id=payment.id,
            status=status,
            payment_status=payment.status,
            external_payment_id=payment.id if payment.status == "succeeded" else None,
            amount_minor=_minor(payment.amount, currency),
            currency=currency,
            saved_payment_method_id=saved,
        )

    @staticmethod
    def _saved(payment) -> str | None:
        method = payment.payment_method
        if payment.status != "succeeded" or method is None or not getattr(method, "saved", False):
            return None
        return method.id

    # --- webhooks ----------------------------------------------------------------------------

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> gateways.WebhookEvent:
        secret = _setting("webhook_secret")
        if not secret:
            raise gateways.NotConfigured("Webhook secret is not configured")
        signature = (_header(headers, SIGNATURE_HEADER) or "").strip().lower()
        expected = hmac.new(str(secret).encode(), body, hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature, expected):
            raise gateways.InvalidSignature("signature mismatch")
        try:
            notification = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise gateways.InvalidSignature(str(error)) from None
        obj = notification.get("object") if isinstance(notification, dict) else None
        kind = notification.get("event") if isinstance(notification, dict) else None
        if not isinstance(obj, dict) or not obj.get("id") or not kind:
            raise gateways.InvalidSignature("not a YooKassa notification")
        # A notification carries no id of its own; its event names one change of one object.
        return gateways.WebhookEvent(
            event_id=f"{kind}:{obj['id']}"[:255],
            event_type=kind,
            payload=notification,
            # Filled from YooKassa's own answer by complete_event.
            external_payment_id=obj["id"] if kind.startswith("payment.") else None,
            refund_id=obj["id"] if kind.startswith("refund.") else None,
        )

    def completion_needed(self, event: gateways.WebhookEvent) -> bool:
        """Every notification we act on is read back from the API first."""
        return event.event_type in REREAD_EVENTS

    def complete_event(self, event: gateways.WebhookEvent) -> gateways.WebhookEvent:
        if event.event_type == "refund.succeeded":
            return self._refund_event(event)
        if event.event_type not in REREAD_EVENTS:
            return event
        payment = _call(_Payment.find_one, event.external_payment_id)
        metadata = payment.metadata or {}
        named = {
            "invoice_id": metadata.get("invoice_id"),
            "payment_id": metadata.get("payment_id"),
            "external_payment_id": payment.id,
            "session_id": payment.id,
        }
        if event.event_type == "payment.succeeded" and payment.status == "succeeded":
            currency = payment.amount.currency
            return dataclasses.replace(
                event,
                **named,
                action=EventAction.CAPTURE,
                amount_minor=_minor(payment.amount, currency),
                currency=currency,
                saved_payment_method_id=self._saved(payment),
            )
        if event.event_type == "payment.canceled" and payment.status == "canceled":
            details = payment.cancellation_details
            reason = getattr(details, "reason", None) or "canceled"
            return dataclasses.replace(
                event, **named, action=EventAction.FAIL, failure_reason=f"YooKassa: {reason}"
            )
        # YooKassa does not say what the notification says: nothing is done.
        return dataclasses.replace(event, action=EventAction.IGNORE)

    def _refund_event(self, event: gateways.WebhookEvent) -> gateways.WebhookEvent:
        refund = _call(_Refund.find_one, event.refund_id)
        if refund.status != "succeeded":
            return dataclasses.replace(event, action=EventAction.IGNORE)
        payment = _call(_Payment.find_one, refund.payment_id)
        refunded = payment.refunded_amount
        currency = getattr(refunded, "currency", None) or payment.amount.currency
        return dataclasses.replace(
            event,
            action=EventAction.REFUND,
            external_payment_id=payment.id,
            refunded_total_minor=_minor(refunded, currency) if refunded is not None else 0,
            currency=currency,
            refund_id=refund.id,
        )

    # --- refunds and off-session charges -----------------------------------------------------

    def refund(
        self,
        *,
        external_payment_id: str,
        amount: Decimal,
        currency: str,
        currency_places: int,
        idempotency_key: str | None = None,
    ) -> gateways.RefundResult:
        refund = _call(
            _Refund.create,
            {
                "payment_id": external_payment_id,
                "amount": _money(amount, currency, currency_places),
            },
            idempotency_key=idempotence_key(idempotency_key),
        )
        status = {"canceled": "failed"}.get(refund.status, refund.status or "pending")
        return gateways.RefundResult(
            refund_id=refund.id,
            status=status,
            amount=Decimal(str(refund.amount.value)).quantize(Decimal(1).scaleb(-currency_places)),
            currency=currency.upper(),
        )

    def charge_saved_method(
        self,
        *,
        saved_payment_method_id: str,
        request: gateways.PaymentRequest,
        customer_id: str | None = None,
    ) -> gateways.ChargeResult:
        payment = _call(
            _Payment.create,
            {
                "amount": _money(request.amount, request.currency, request.currency_places),
                "capture": True,
                "payment_method_id": saved_payment_method_id,
                "description": request.description[:128],
                "metadata": dict(request.metadata),
            },
            idempotency_key=idempotence_key(request.idempotency_key),
        )
        status = {"succeeded": "succeeded", "canceled": "failed"}.get(payment.status, "pending")
        reason = getattr(payment.cancellation_details, "reason", None)
        return gateways.ChargeResult(
            external_payment_id=payment.id,
            status=status,
            amount=Decimal(str(payment.amount.value)).quantize(
                Decimal(1).scaleb(-request.currency_places)
            ),
            currency=request.currency.upper(),
            failure_reason=None if status != "failed" else f"YooKassa: {reason or 'canceled'}",
        )

    def dashboard_url(self, external_payment_id: str) -> str | None:
        if not external_payment_id:
            return None
        return f"{DASHBOARD}?search={external_payment_id}"
