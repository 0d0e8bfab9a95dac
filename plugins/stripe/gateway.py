"""Stripe behind the payment gateway interface, with the official ``stripe`` SDK.

- Sessions: ``hosted`` opens a Stripe Checkout Session (the customer pays on ``session_url``);
  ``elements`` creates a PaymentIntent whose ``client_secret`` the frontend confirms with
  Stripe.js (its session id is the PaymentIntent id). When the invoice holds a recurring item a
  Stripe customer is created and the card is kept for off-session renewal charges
  (``setup_future_usage=off_session``).
- Every call that creates something carries the idempotency key of the claim it belongs to, so
  a retry after a timeout gets Stripe's first answer back instead of a second object.
- Webhooks are verified with the endpoint's signing secret on the raw body (300 s tolerance)
  before they are read.
- Money crosses as ``Decimal`` and becomes Stripe's minor units only here, with the currency's
  decimal places that billing sends along; amounts Stripe reports on its own (events, a
  session's status) are handed to billing in Stripe's minor units.
"""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal

import stripe

from plugins import gateway as gateways
from plugins.gateway import EventAction, from_minor_units, to_minor_units
from plugins.state import config_value

NAME = "stripe"
SIGNATURE_TOLERANCE_SECONDS = 300

CAPTURE_EVENTS = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "payment_intent.succeeded",
}
FAIL_EVENTS = {
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.payment_failed",
}


def _setting(key: str):
    return config_value(NAME, key)


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _id_of(value) -> str | None:
    """An expandable field: the id string, or the id of the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return value.get("id") if isinstance(value, dict) else getattr(value, "id", None)


def _minor(amount: Decimal, request: gateways.PaymentRequest) -> int:
    """``amount`` of the request's currency in Stripe's minor units."""
    return to_minor_units(amount, request.currency, request.currency_places)


def _moment(timestamp) -> datetime.datetime | None:
    if not timestamp:
        return None
    return datetime.datetime.fromtimestamp(int(timestamp), tz=datetime.UTC)


class StripeGateway(gateways.PaymentGateway):
    name = NAME
    supports_saved_methods = True
    supports_partial_refunds = True

    # --- plumbing ----------------------------------------------------------------------------

    def _client(self) -> stripe.StripeClient:
        secret_key = _setting("secret_key")
        if not secret_key:
            raise gateways.NotConfigured("Stripe secret key is not configured")
        return stripe.StripeClient(
            secret_key,
            base_addresses={"api": str(_setting("api_base") or "").rstrip("/") or None},
            # Retries are ours to make, with the claim's key, not the SDK's.
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=int(_setting("timeout_seconds") or 30)),
        )

    def _call(self, function, *args, **kwargs):
        """One Stripe call with its errors in the interface's terms: a refusal by Stripe is a
        GatewayError; no answer (network, timeout, Stripe's own 5xx) is ProviderUnavailable."""
        try:
            result = function(*args, **kwargs)
        except stripe.AuthenticationError as error:
            raise gateways.NotConfigured(
                f"Stripe refused the secret key: {error.user_message}"
            ) from error
        except (stripe.APIConnectionError, stripe.RateLimitError) as error:
            raise gateways.ProviderUnavailable(str(error.user_message or error)) from error
        except stripe.APIError as error:
            raise gateways.ProviderUnavailable(str(error.user_message or error)) from error
        except stripe.StripeError as error:
            raise gateways.GatewayError(str(error.user_message or error)) from error
        # Plain dicts from here on: the SDK's objects have no dict API of their own.
        return result.to_dict() if hasattr(result, "to_dict") else result

    @staticmethod
    def _options(key: str | None, suffix: str = "") -> dict:
        return {"idempotency_key": f"{key}{suffix}"} if key else {}

    # --- sessions ----------------------------------------------------------------------------

    def _customer(self, client, request: gateways.PaymentRequest) -> str:
        customer = self._call(
            client.v1.customers.create,
            params={
                **({"email": request.customer_email} if request.customer_email else {}),
                "metadata": {"user_id": request.user_id},
            },
            options=self._options(request.idempotency_key, ":customer"),
        )
        return customer["id"]

    def create_session(self, request: gateways.PaymentRequest) -> gateways.PaymentSession:
        client = self._client()
        customer = self._customer(client, request) if request.save_payment_method else None
        if _setting("checkout_mode") == "elements":
            return self._payment_intent_session(client, request, customer)
        return self._checkout_session(client, request, customer)

    def _payment_intent_session(self, client, request, customer) -> gateways.PaymentSession:
        params = {
            "amount": _minor(request.amount, request),
            "currency": request.currency.lower(),
            "description": request.description,
            "metadata": dict(request.metadata),
        }
        if customer:
            params["customer"] = customer
            params["setup_future_usage"] = "off_session"
        intent = self._call(
            client.v1.payment_intents.create,
            params=params,
            options=self._options(request.idempotency_key),
        )
        return gateways.PaymentSession(
            session_id=intent["id"],
            session_url=None,
            client_secret=intent.get("client_secret"),
            expires_at=None,
            saves_payment_method=bool(customer),
        )

    @staticmethod
    def _line_items(request: gateways.PaymentRequest) -> list[dict]:
        """The invoice lines as Stripe line items; an invoice with a credit line (proration)
        or lines that do not add up is shown as one line of its total, because Stripe takes
        no negative amounts."""
        currency = request.currency.lower()
        lines = [
            {
                "price_data": {
                    "currency": currency,
                    "unit_amount": _minor(line.amount, request),
                    "product_data": {
                        "name": line.description
                        if line.quantity == 1
                        else f"{line.description} × {line.quantity}"
                    },
                },
                "quantity": 1,
            }
            for line in request.lines
        ]
        total = sum((line.amount for line in request.lines), Decimal(0))
        if not lines or total != request.amount or any(line.amount < 0 for line in request.lines):
            lines = [
                {
                    "price_data": {
                        "currency": currency,
                        "unit_amount": _minor(request.amount, request),
                        "product_data": {"name": request.description},
                    },
                    "quantity": 1,
                }
            ]
        return lines

    def _checkout_session(self, client, request, customer) -> gateways.PaymentSession:
        # The PaymentIntent says it belongs to a hosted page: a declined card there leaves the
        # page open for another card, so only the session's own events end the attempt.
        intent_data: dict = {"metadata": {**request.metadata, "checkout": "hosted"}}
        if customer:
            intent_data["setup_future_usage"] = "off_session"
        params = {
            "mode": "payment",
            "line_items": self._line_items(request),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": request.invoice_id,
            "metadata": dict(request.metadata),
            # No expires_at: Stripe's default (24 hours) keeps the parameters of a retry with
            # the same idempotency key identical to the first call's, as Stripe requires.
            "payment_intent_data": intent_data,
        }
        if customer:
            params["customer"] = customer
        elif request.customer_email:
            params["customer_email"] = request.customer_email
        session = self._call(
            client.v1.checkout.sessions.create,
            params=params,
            options=self._options(request.idempotency_key),
        )
        return gateways.PaymentSession(
            session_id=session["id"],
            session_url=session.get("url"),
            client_secret=None,
            expires_at=_moment(session.get("expires_at")),
            saves_payment_method=bool(customer),
        )

    def session_status(self, session_id: str) -> gateways.SessionStatus:
        client = self._client()
        if session_id.startswith("pi_"):
            intent = self._call(client.v1.payment_intents.retrieve, session_id)
            return self._intent_status(intent)
        session = self._call(client.v1.checkout.sessions.retrieve, session_id)
        intent_id = _id_of(session.get("payment_intent"))
        paid = session.get("payment_status") in ("paid", "no_payment_required")
        intent = (
            self._call(client.v1.payment_intents.retrieve, intent_id)
            if intent_id and paid
            else None
        )
        saved = self._saved(intent) if intent is not None else (None, None)
        status = session.get("status") or "open"
        if status == "complete" and not paid:
            status = "open"  # an asynchronous payment method still settling
        return gateways.SessionStatus(
            session_id=session["id"],
            status=status,
            payment_status=session.get("payment_status") or "unpaid",
            external_payment_id=intent_id if paid else None,
            amount_minor=session.get("amount_total") or 0,
            currency=(session.get("currency") or "").upper() or None,
            saved_payment_method_id=saved[0],
            saved_customer_id=saved[1],
        )

    def _intent_status(self, intent) -> gateways.SessionStatus:
        raw = intent.get("status")
        status = {"succeeded": "complete", "canceled": "expired"}.get(raw, "open")
        if raw == "requires_payment_method" and intent.get("last_payment_error"):
            status = "failed"
        saved = self._saved(intent)
        currency = intent.get("currency") or ""
        return gateways.SessionStatus(
            session_id=intent["id"],
            status=status,
            payment_status=raw,
            external_payment_id=intent["id"] if raw == "succeeded" else None,
            amount_minor=intent.get("amount_received") or intent.get("amount") or 0,
            currency=currency.upper() or None,
            saved_payment_method_id=saved[0],
            saved_customer_id=saved[1],
        )

    @staticmethod
    def _saved(intent) -> tuple[str | None, str | None]:
        """(payment method, customer) when the payment asked Stripe to keep the card."""
        if intent is None or not intent.get("setup_future_usage"):
            return None, None
        method, customer = _id_of(intent.get("payment_method")), _id_of(intent.get("customer"))
        if not method or not customer:
            return None, None
        return method, customer

    # --- webhooks ----------------------------------------------------------------------------

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> gateways.WebhookEvent:
        secret = _setting("webhook_secret")
        if not secret:
            raise gateways.NotConfigured("Webhook secret is not configured")
        signature = _header(headers, "Stripe-Signature")
        try:
            event = stripe.Webhook.construct_event(
                body.decode("utf-8"), signature, secret, SIGNATURE_TOLERANCE_SECONDS
            ).to_dict()
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as error:
            raise gateways.InvalidSignature(str(error)) from None
        if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
            raise gateways.InvalidSignature("not a Stripe event")
        return self._event(event)

    def _event(self, event: dict) -> gateways.WebhookEvent:
        kind = event["type"]
        obj = (event.get("data") or {}).get("object") or {}
        common = {"event_id": event["id"], "event_type": kind, "payload": event}
        metadata = obj.get("metadata") or {}
        named = {"invoice_id": metadata.get("invoice_id"), "payment_id": metadata.get("payment_id")}
        if kind in CAPTURE_EVENTS:
            return self._capture_event(obj, common, named)
        if kind == "payment_intent.payment_failed" and metadata.get("checkout") == "hosted":
            return gateways.WebhookEvent(**common)
        if kind in FAIL_EVENTS:
            is_session = obj.get("object") == "checkout.session"
            error = obj.get("last_payment_error") or {}
            return gateways.WebhookEvent(
                **common,
                **named,
                action=EventAction.FAIL,
                external_payment_id=None if is_session else obj.get("id"),
                session_id=obj.get("id"),
                failure_reason=error.get("message")
                or ("Checkout session expired" if kind.endswith("expired") else kind),
            )
        if kind == "charge.refunded":
            currency = obj.get("currency") or ""
            refunds = (obj.get("refunds") or {}).get("data") or []
            return gateways.WebhookEvent(
                **common,
                action=EventAction.REFUND,
                external_payment_id=_id_of(obj.get("payment_intent")),
                refunded_total_minor=obj.get("amount_refunded") or 0,
                currency=currency.upper() or None,
                refund_id=refunds[0].get("id") if refunds else None,
            )
        if kind == "charge.refund.updated" and obj.get("status") == "canceled":
            return gateways.WebhookEvent(
                **common,
                action=EventAction.REFUND_REVERSED,
                external_payment_id=_id_of(obj.get("payment_intent")),
                refund_id=obj.get("id"),
            )
        return gateways.WebhookEvent(**common)

    def _capture_event(self, obj: dict, common: dict, named: dict) -> gateways.WebhookEvent:
        currency = obj.get("currency") or ""
        if obj.get("object") == "checkout.session":
            if obj.get("payment_status") not in ("paid", "no_payment_required"):
                # An asynchronous method (a bank debit) has not settled; its own event follows.
                return gateways.WebhookEvent(**common)
            return gateways.WebhookEvent(
                **common,
                **named,
                action=EventAction.CAPTURE,
                external_payment_id=_id_of(obj.get("payment_intent")),
                session_id=obj.get("id"),
                amount_minor=obj.get("amount_total") or 0,
                currency=currency.upper(),
                # Whether the card was kept: its PaymentIntent says (complete_event reads it).
                saved_customer_id=_id_of(obj.get("customer")),
            )
        saved = self._saved(obj)
        return gateways.WebhookEvent(
            **common,
            **named,
            action=EventAction.CAPTURE,
            external_payment_id=obj.get("id"),
            session_id=obj.get("id"),
            amount_minor=obj.get("amount_received") or obj.get("amount") or 0,
            currency=currency.upper(),
            saved_payment_method_id=saved[0],
            saved_customer_id=saved[1],
        )

    def completion_needed(self, event: gateways.WebhookEvent) -> bool:
        """A paid Checkout Session with a customer does not say whether the card was kept for
        later; its PaymentIntent does."""
        return bool(
            event.action == EventAction.CAPTURE
            and (event.session_id or "").startswith("cs_")
            and event.saved_customer_id
            and event.external_payment_id
        )

    def complete_event(self, event: gateways.WebhookEvent) -> gateways.WebhookEvent:
        if not self.completion_needed(event):
            return event
        intent = self._call(self._client().v1.payment_intents.retrieve, event.external_payment_id)
        method, customer = self._saved(intent)
        return dataclasses.replace(
            event, saved_payment_method_id=method, saved_customer_id=customer if method else None
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
        refund = self._call(
            self._client().v1.refunds.create,
            params={
                "payment_intent": external_payment_id,
                "amount": to_minor_units(amount, currency, currency_places),
            },
            options=self._options(idempotency_key),
        )
        status = refund.get("status") or "pending"
        return gateways.RefundResult(
            refund_id=refund["id"],
            status={"canceled": "failed"}.get(status, status),
            amount=from_minor_units(refund.get("amount") or 0, currency_places),
            currency=currency.upper(),
        )

    def charge_saved_method(
        self,
        *,
        saved_payment_method_id: str,
        request: gateways.PaymentRequest,
        customer_id: str | None = None,
    ) -> gateways.ChargeResult:
        params = {
            "amount": _minor(request.amount, request),
            "currency": request.currency.lower(),
            "payment_method": saved_payment_method_id,
            "off_session": True,
            "confirm": True,
            "description": request.description,
            "metadata": dict(request.metadata),
        }
        if customer_id:
            params["customer"] = customer_id
        intent = self._call(
            self._client().v1.payment_intents.create,
            params=params,
            options=self._options(request.idempotency_key),
        )
        raw = intent.get("status")
        status = {"succeeded": "succeeded", "processing": "pending"}.get(raw, "failed")
        error = intent.get("last_payment_error") or {}
        return gateways.ChargeResult(
            external_payment_id=intent["id"],
            status=status,
            amount=from_minor_units(
                intent.get("amount_received") or intent.get("amount") or 0, request.currency_places
            ),
            currency=request.currency.upper(),
            failure_reason=None
            if status != "failed"
            else (error.get("message") or f"Stripe left the payment {raw}"),
        )

    def dashboard_url(self, external_payment_id: str) -> str | None:
        if not external_payment_id:
            return None
        key = str(_setting("secret_key") or "")
        mode = "test/" if key.startswith(("sk_test_", "rk_test_")) else ""
        return f"https://dashboard.stripe.com/{mode}payments/{external_payment_id}"
