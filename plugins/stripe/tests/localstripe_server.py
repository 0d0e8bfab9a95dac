"""A Stripe-compatible server for the Stripe plugin's tests: localstripe, extended.

localstripe (a stateful fake of the Stripe API) covers customers, payment methods, payment
intents, charges and refunds. This module adds what our Stripe gateway relies on and localstripe
lacks or does differently from Stripe:

* no pickling of the store to /tmp on every write (slow, and shared between runs);
* Stripe's idempotency protocol (``Idempotency-Key``: replay, conflict, one execution per key);
* a request log for assertions (``GET``/``DELETE /_test/requests``);
* the payment intent parameters and behaviour Stripe has: ``setup_future_usage``, saving the
  card on success, retrying after a decline, ``latest_charge`` as an id, card errors typed
  ``card_error`` with a decline code;
* Checkout Sessions, plus ``POST /_test/checkout/sessions/{id}/pay`` that does what the hosted
  payment page does when the customer pays;
* ``charge.refunded`` events when a refund is created, and refund amount checks;
* webhook delivery after 0.05 s instead of 1 s, signed exactly as localstripe (and Stripe) do.

Run it with ``python -m plugins.stripe.tests.localstripe_server --port N``; it listens on
127.0.0.1 only. Nothing is patched at import time: ``build_app()`` applies the extensions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import hashlib
import hmac
import html
import json
import logging
import time
from dataclasses import dataclass, field

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from localstripe import resources, server, webhooks
from localstripe.errors import UserError
from localstripe.resources import (
    Charge,
    Customer,
    Event,
    List,
    PaymentIntent,
    PaymentMethod,
    Refund,
    Store,
    StripeObject,
    random_id,
    store,
    try_convert_to_int,
)

logger = logging.getLogger("localstripe_server")

WEBHOOK_DELAY_SECONDS = 0.05
DEFAULT_CARD_NUMBER = "4242424242424242"
CHECKOUT_SESSION_LIFETIME = 24 * 3600
# Stripe refuses expires_at outside [30 min, 24 h] after creation; the slack absorbs the clock
# difference between the test process and this server.
CHECKOUT_MIN_LIFETIME = 30 * 60
EXPIRES_AT_SLACK = 60

# Stripe's minimum charge amounts (in the currency's smallest unit) for the currencies we sell
# in; a payment below them fails at Stripe with amount_too_small, so it fails here too.
MINIMUM_AMOUNTS = {
    "usd": 50,
    "eur": 50,
    "gbp": 30,
    "chf": 50,
    "cad": 50,
    "aud": 50,
    "jpy": 50,
    "dkk": 250,
    "nok": 300,
    "sek": 300,
    "pln": 200,
}

# Stripe's test cards that decline, with the error Stripe answers:
# (code, decline_code, message). localstripe only declines 4000000000000341 when charging and
# treats the others as "declined when attached to a customer" but chargeable.
DECLINED_CARDS = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000000341": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000000000009987": ("card_declined", "lost_card", "Your card was declined."),
    "4000000000009979": ("card_declined", "stolen_card", "Your card was declined."),
    "4000000000000069": ("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": (
        "incorrect_cvc",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
    "4000000000000119": (
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "4242424242424241": ("incorrect_number", None, "Your card number is incorrect."),
    # These two ask for 3-D Secure first, then decline.
    "4000008260003178": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000008400001629": ("card_declined", "generic_decline", "Your card was declined."),
}
DEFAULT_DECLINE = ("card_declined", "generic_decline", "Your card was declined.")

SETUP_FUTURE_USAGE = ("off_session", "on_session")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")

IDEMPOTENCY_CONFLICT = (
    "Keys for idempotent requests can only be used with the same parameters they were first "
    "used with."
)
# Stripe keeps no idempotent result when the request never started executing: it failed
# authentication or validation, or collided with another request. Everything else (success,
# card declines, server errors) is replayed.
NOT_SAVED_STATUSES = frozenset({400, 401, 403, 404, 409, 429})


# --- state ---------------------------------------------------------------------------------


@dataclass
class _StoredResponse:
    method: str
    path: str
    body: bytes
    status: int
    payload: bytes
    content_type: str
    request_id: str


@dataclass
class _RequestContext:
    request_id: str
    idempotency_key: str | None


@dataclass
class _State:
    public_base: str = "http://127.0.0.1:8420"
    idempotency: dict[str, _StoredResponse] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    request_log: list[dict] = field(default_factory=list)
    # Bumped on every reset so webhooks queued before it are dropped instead of reaching a
    # receiver registered after it.
    generation: int = 0
    delivery_lock: asyncio.Lock | None = None
    deliveries: set[asyncio.Future] = field(default_factory=set)
    # Saved cards that decline from now on (a card that expired or was blocked since it was
    # kept), as a test sets them with POST /_test/payment_methods/<id>/decline.
    declining: set[str] = field(default_factory=set)


state = _State()
_current_request: contextvars.ContextVar[_RequestContext | None] = contextvars.ContextVar(
    "current_request", default=None
)


def reset_state() -> None:
    store.clear()
    webhooks._webhooks.clear()
    state.idempotency.clear()
    state.locks = {key: lock for key, lock in state.locks.items() if lock.locked()}
    state.request_log.clear()
    state.declining.clear()
    state.generation += 1


# --- errors --------------------------------------------------------------------------------


def invalid_request(message, *, param=None, code=None, status=400):
    contents = {}
    if param is not None:
        contents["param"] = param
    if code is not None:
        contents["code"] = code
    return UserError(status, message, contents)


def missing_param(param):
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def unknown_param(param):
    return invalid_request(
        f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
    )


_original_user_error_init = UserError.__init__


def _user_error_init(self, code, message=None, contents=None):
    _original_user_error_init(self, code, message, contents)
    # localstripe types every error invalid_request_error; Stripe answers 402 with card_error,
    # which is what the SDK's CardError and our decline handling read.
    if code == 402:
        self.body["error"]["type"] = "card_error"


def _check_minimum_amount(amount, currency, param="amount"):
    if type(amount) is not int or type(currency) is not str:
        return
    minimum = MINIMUM_AMOUNTS.get(currency.lower())
    if minimum is not None and amount < minimum:
        raise invalid_request(
            f"Amount must be at least {minimum / 100:.2f} {currency.lower()}",
            param=param,
            code="amount_too_small",
        )


def _retrieve_or_missing(cls, object_id, param):
    """A referenced object that does not exist is a 400 resource_missing at Stripe."""
    if type(object_id) is not str:
        raise invalid_request(f"Invalid {param}: must be a string", param=param)
    try:
        return cls._api_retrieve(object_id)
    except UserError as error:
        if error.code != 404:
            raise
        raise invalid_request(
            f"No such {cls.object}: '{object_id}'", param=param, code="resource_missing"
        ) from None


# --- generic fixes -------------------------------------------------------------------------


@classmethod
def _stripe_object_retrieve(cls, id):
    obj = store.get(cls.object + ":" + id)
    if obj is None:
        # Stripe's wording, which the SDK exposes as the error message.
        raise invalid_request(
            f"No such {cls.object}: '{id}'", param="id", code="resource_missing", status=404
        )
    return obj


_original_event_init = Event.__init__


def _event_init(self, type, data):
    _original_event_init(self, type, data)
    context = _current_request.get()
    self.request = {
        "id": context.request_id if context else None,
        "idempotency_key": context.idempotency_key if context else None,
    }
    self.pending_webhooks = sum(
        1 for webhook in webhooks._webhooks.values() if _webhook_wants(webhook, type)
    )


# --- charges -------------------------------------------------------------------------------


def _decline_for(payment_method_id):
    try:
        payment_method = PaymentMethod._api_retrieve(payment_method_id)
    except UserError:
        return DEFAULT_DECLINE
    number = getattr(payment_method, "_card_number", None)
    return DECLINED_CARDS.get(number, DEFAULT_DECLINE)


_original_charging_is_declined = PaymentMethod._charging_is_declined


def _charging_is_declined(self):
    if self.id in state.declining:
        return True
    if self.type == "card" and self._card_number in DECLINED_CARDS:
        return True
    return _original_charging_is_declined(self)


def _charge_set_auth_failure(self):
    code, decline_code, message = _decline_for(self.payment_method)
    self.status = "failed"
    self.failure_code = code
    self.failure_message = message
    self._decline_code = decline_code


def _charge_raise_failure(self):
    contents = {"code": self.failure_code, "charge": self.id}
    decline_code = getattr(self, "_decline_code", None)
    if decline_code:
        contents["decline_code"] = decline_code
    raise UserError(402, self.failure_message, contents)


def _charge_amount_captured(self):
    return self.amount if self.captured and self.status == "succeeded" else 0


def _charge_outcome(self):
    if self.status == "failed":
        return {
            "network_status": "declined_by_network",
            "reason": getattr(self, "_decline_code", None),
            "risk_level": "normal",
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        }
    if self.status == "succeeded":
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return None


# --- payment intents -----------------------------------------------------------------------


def _canonical_payment_method(payment_method, param="payment_method"):
    """Stripe turns test ids like pm_card_visa into a real payment method on use; localstripe
    creates a new object on every lookup, so resolve the id once."""
    if payment_method is None or type(payment_method) is not str:
        return payment_method
    if payment_method.startswith("pm_"):
        return _retrieve_or_missing(PaymentMethod, payment_method, param).id
    return payment_method


def _check_setup_future_usage(value, param="setup_future_usage"):
    if value is not None and value not in SETUP_FUTURE_USAGE:
        raise invalid_request(
            f"Invalid {param}: must be one of off_session or on_session", param=param
        )


def _check_optional_strings(**values):
    for name, value in values.items():
        if value is not None and type(value) is not str:
            raise invalid_request(f"Invalid {name}: must be a string", param=name)


_original_pi_init = PaymentIntent.__init__


def _pi_init(
    self,
    setup_future_usage=None,
    description=None,
    receipt_email=None,
    statement_descriptor=None,
    statement_descriptor_suffix=None,
    automatic_payment_methods=None,
    return_url=None,
    **kwargs,
):
    # Checks come first: localstripe stores the object as soon as its __init__ succeeds.
    _check_setup_future_usage(setup_future_usage)
    _check_optional_strings(
        description=description,
        receipt_email=receipt_email,
        statement_descriptor=statement_descriptor,
        statement_descriptor_suffix=statement_descriptor_suffix,
        return_url=return_url,
    )
    if automatic_payment_methods is not None and type(automatic_payment_methods) is not dict:
        raise invalid_request(
            "Invalid automatic_payment_methods: must be an object",
            param="automatic_payment_methods",
        )
    kwargs["payment_method"] = _canonical_payment_method(kwargs.get("payment_method"))
    _original_pi_init(self, **kwargs)
    self.setup_future_usage = setup_future_usage
    self.description = description
    self.receipt_email = receipt_email
    self.statement_descriptor = statement_descriptor
    self.statement_descriptor_suffix = statement_descriptor_suffix
    if automatic_payment_methods is not None:
        enabled = str(automatic_payment_methods.get("enabled", "")).lower() == "true"
        automatic_payment_methods = {"enabled": enabled}
    self.automatic_payment_methods = automatic_payment_methods
    self._return_url = return_url
    self._failed_charges = []
    self._failed_payment_method = None
    self._authentication_required = False


_original_pi_api_create = PaymentIntent.__dict__["_api_create"].__func__


@classmethod
def _pi_api_create(cls, confirm=None, off_session=None, **data):
    _check_minimum_amount(try_convert_to_int(data.get("amount")), data.get("currency"))
    obj = _original_pi_api_create(cls, confirm=confirm, off_session=off_session, **data)
    if str(off_session).lower() == "true" and obj.status == "requires_action":
        # Off session nobody can complete 3-D Secure: Stripe fails the attempt with
        # authentication_required instead of leaving the intent waiting for the customer.
        obj.next_action = None
        obj._authentication_required = True
        obj._failed_payment_method = obj.payment_method
        obj.payment_method = None
        _schedule(Event("payment_intent.payment_failed", obj))
        raise UserError(
            402,
            "Your card was declined. This transaction requires authentication.",
            {
                "code": "authentication_required",
                "decline_code": "authentication_required",
                "payment_intent": obj._export(),
                "payment_method": PaymentMethod._api_retrieve(obj._failed_payment_method)._export(),
            },
        )
    return obj


_original_pi_api_confirm = PaymentIntent.__dict__["_api_confirm"].__func__


@classmethod
def _pi_api_confirm(
    cls,
    id,
    payment_method=None,
    return_url=None,
    off_session=None,
    setup_future_usage=None,
    receipt_email=None,
    **kwargs,
):
    if kwargs:
        raise unknown_param(next(iter(kwargs)))
    obj = cls._api_retrieve(id)
    _check_setup_future_usage(setup_future_usage)
    _check_optional_strings(return_url=return_url, receipt_email=receipt_email)
    updates = {}
    if payment_method is not None:
        updates["payment_method"] = payment_method
    if setup_future_usage is not None:
        updates["setup_future_usage"] = setup_future_usage
    if receipt_email is not None:
        updates["receipt_email"] = receipt_email
    if updates:
        obj._update(**updates)
    if obj.status == "requires_payment_method":
        raise invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
        )
    if obj.status != "requires_confirmation":
        raise invalid_request(
            f"You cannot confirm this PaymentIntent because it has a status of {obj.status}.",
            code="payment_intent_unexpected_state",
        )
    return _original_pi_api_confirm(cls, id)


def _pi_update(self, **data):
    if "setup_future_usage" in data:
        if data["setup_future_usage"] == "":
            data["setup_future_usage"] = None
        _check_setup_future_usage(data["setup_future_usage"])
    if "payment_method" in data:
        if self.status in ("succeeded", "processing", "requires_capture", "canceled"):
            raise invalid_request(
                "You cannot update this PaymentIntent's payment_method because it has a status "
                f"of {self.status}.",
                code="payment_intent_unexpected_state",
            )
        data["payment_method"] = _canonical_payment_method(data["payment_method"])
        # A new payment method after a decline starts a new attempt (Stripe lets the customer
        # retry on the same intent; localstripe would stay in requires_payment_method forever).
        if self.latest_charge is not None and self.latest_charge.status == "failed":
            self._failed_charges.append(self.latest_charge)
            self.latest_charge = None
        self._authentication_required = False
        self._failed_payment_method = None
    StripeObject._update(self, **data)


def _save_payment_method_for_future(pi):
    """With setup_future_usage Stripe attaches the payment method to the intent's customer once
    the payment succeeds (or is authorized)."""
    if not (pi.setup_future_usage and pi.customer and pi.payment_method):
        return
    if not pi.payment_method.startswith("pm_"):
        return
    payment_method = PaymentMethod._api_retrieve(pi.payment_method)
    if payment_method.customer is None:
        payment_method.customer = pi.customer


_original_pi_on_success = PaymentIntent._on_success


def _pi_on_success(self):
    _save_payment_method_for_future(self)
    _original_pi_on_success(self)


_original_pi_create_charge = PaymentIntent._create_charge


def _pi_create_charge(self, on_failure_now):
    _original_pi_create_charge(self, on_failure_now)
    if self.latest_charge is not None and self.latest_charge.status == "succeeded":
        # Manual capture never reaches _on_success before capture, but the card is saved on
        # authorization.
        _save_payment_method_for_future(self)


_original_pi_report_failure = PaymentIntent._report_failure


def _pi_report_failure(self):
    # Stripe empties payment_method after a failed attempt; the failed one is kept in
    # last_payment_error.
    self._failed_payment_method = self.payment_method
    self.payment_method = None
    try:
        _original_pi_report_failure(self)
    except UserError as error:
        if error.code == 402:
            error.body["error"]["payment_intent"] = self._export()
            failed = _failed_payment_method_export(self)
            if failed is not None:
                error.body["error"]["payment_method"] = failed
        raise


_original_pi_report_async_failure = PaymentIntent._report_async_failure


def _pi_report_async_failure(self):
    self._failed_payment_method = self.payment_method
    self.payment_method = None
    _original_pi_report_async_failure(self)


def _failed_payment_method_export(pi):
    if not pi._failed_payment_method:
        return None
    try:
        return PaymentMethod._api_retrieve(pi._failed_payment_method)._export()
    except UserError:
        return None


_original_pi_last_payment_error = PaymentIntent.last_payment_error


def _pi_last_payment_error(self):
    if getattr(self, "_authentication_required", False):
        return {
            "code": "authentication_required",
            "decline_code": "authentication_required",
            "message": "Your card was declined. This transaction requires authentication.",
            "payment_method": _failed_payment_method_export(self),
            "type": "card_error",
        }
    error = _original_pi_last_payment_error.fget(self)
    if error and self.latest_charge is not None and self.latest_charge.status == "failed":
        error["type"] = "card_error"
        decline_code = getattr(self.latest_charge, "_decline_code", None)
        if decline_code:
            error["decline_code"] = decline_code
        error["payment_method"] = _failed_payment_method_export(self)
    return error


_original_pi_export = PaymentIntent._export


def _pi_export(self, expand=None):
    obj = _original_pi_export(self, expand=expand)
    expanded = {path.split(".", 1)[0] for path in (expand or []) if type(path) is str}
    # Stripe returns latest_charge as an id unless expanded; localstripe inlines the object.
    charge = obj.get("latest_charge")
    if "latest_charge" not in expanded and isinstance(charge, dict):
        obj["latest_charge"] = charge["id"]
    # `charges` left the PaymentIntent in API version 2022-11-15; code reading it would break
    # against real Stripe.
    obj.pop("charges", None)
    return obj


def _list_customer_payment_methods(id, type=None, limit=None, starting_after=None, **kwargs):
    """GET /v1/customers/{id}/payment_methods, which localstripe lacks; type is optional there
    as at Stripe."""
    if kwargs:
        raise unknown_param(next(iter(kwargs)))
    Customer._api_retrieve(id)
    methods = List(
        f"/v1/customers/{id}/payment_methods", limit=limit, starting_after=starting_after
    )
    methods._list = [
        obj
        for key, obj in store.items()
        if key.startswith("payment_method:")
        and obj.customer == id
        and (type is None or obj.type == type)
    ]
    return methods


# --- refunds -------------------------------------------------------------------------------


def _refund_charge(charge, payment_intent):
    """The charge a refund is for, or None when localstripe's own checks will reject it."""
    if type(charge) is str and charge.startswith("ch_"):
        return _retrieve_or_missing(Charge, charge, "charge")
    if type(payment_intent) is str and payment_intent.startswith("pi_"):
        pi = _retrieve_or_missing(PaymentIntent, payment_intent, "payment_intent")
        if pi.latest_charge is None or pi.latest_charge.status != "succeeded":
            raise invalid_request(
                f"This PaymentIntent ({pi.id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        return pi.latest_charge
    return None


_original_refund_init = Refund.__init__


def _refund_init(
    self, charge=None, payment_intent=None, amount=None, metadata=None, reason=None, **kwargs
):
    if reason is not None and reason not in REFUND_REASONS:
        raise invalid_request(
            "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
            param="reason",
        )
    charge_obj = _refund_charge(charge, payment_intent)
    if charge_obj is not None and charge_obj.status == "succeeded":
        remaining = charge_obj.amount - charge_obj.amount_refunded
        if remaining <= 0:
            raise invalid_request(
                f"Charge {charge_obj.id} has already been refunded.",
                code="charge_already_refunded",
            )
        requested = try_convert_to_int(amount)
        if requested is None:
            # localstripe would refund the full charge again; Stripe refunds what is left.
            amount = remaining
        elif type(requested) is int and requested > remaining:
            raise invalid_request(
                f"Refund amount ({requested}) is greater than unrefunded amount on charge "
                f"({remaining})",
                param="amount",
                code="amount_too_large",
            )
    _original_refund_init(
        self,
        charge=charge,
        payment_intent=payment_intent,
        amount=amount,
        metadata=metadata,
        **kwargs,
    )
    self.reason = reason
    charge_obj = Charge._api_retrieve(self.charge)
    if self.payment_intent is None:
        self.payment_intent = charge_obj.payment_intent
    # Stripe announces every refund on the charge (amount_refunded is cumulative, refunded
    # turns true once nothing is left) and on the refund itself.
    _schedule(Event("charge.refunded", charge_obj))
    _schedule(Event("refund.created", self))


# --- checkout sessions ---------------------------------------------------------------------


class _LineItem:
    """A Checkout line item as listed by GET /v1/checkout/sessions/{id}/line_items. Not a
    StripeObject: line items are not stored or retrievable on their own at Stripe."""

    def __init__(self, name, currency, unit_amount, quantity):
        self.id = "li_" + random_id(24)
        self.name = name
        self.currency = currency
        self.unit_amount = unit_amount
        self.quantity = quantity
        self.price_id = "price_" + random_id(24)
        self.product_id = "prod_" + random_id(14)

    @property
    def amount(self):
        return self.unit_amount * self.quantity

    def _export(self, expand=None):
        return {
            "id": self.id,
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": self.amount,
            "amount_tax": 0,
            "amount_total": self.amount,
            "currency": self.currency,
            "description": self.name,
            "price": {
                "id": self.price_id,
                "object": "price",
                "active": False,
                "currency": self.currency,
                "livemode": False,
                "product": self.product_id,
                "type": "one_time",
                "unit_amount": self.unit_amount,
            },
            "quantity": self.quantity,
        }


def _as_int(value, param, minimum):
    number = try_convert_to_int(value)
    if type(number) is not int or number < minimum:
        raise invalid_request(
            f"Invalid {param}: must be an integer greater than or equal to {minimum}",
            param=param,
            code="parameter_invalid_integer",
        )
    return number


def _as_metadata(value, param):
    if value is None or value == "":
        return {}
    if type(value) is not dict:
        raise invalid_request(f"Invalid {param}: must be an object", param=param)
    for key, item in value.items():
        if type(item) not in (str, int, float, bool):
            raise invalid_request(f"Invalid {param}[{key}]: must be a string", param=param)
    return {key: str(item) for key, item in value.items()}


def _as_url(value, param):
    if value is None:
        return None
    if type(value) is not str or not value.startswith(("http://", "https://")):
        raise invalid_request(f"Not a valid URL: {param}", param=param, code="url_invalid")
    return value


def _parse_line_items(line_items):
    if not line_items:
        raise invalid_request(
            "line_items is required in payment mode: give at least one line item.",
            param="line_items",
            code="parameter_missing",
        )
    if type(line_items) is not list:
        raise invalid_request("Invalid line_items: must be an array", param="line_items")
    parsed = []
    currency = None
    for index, line in enumerate(line_items):
        item = _parse_line_item(line, f"line_items[{index}]", currency)
        currency = item.currency
        parsed.append(item)
    return parsed, currency


def _check_line_item_keys(line, prefix):
    if type(line) is not dict:
        raise invalid_request(f"Invalid {prefix}: must be an object", param=prefix)
    for key in line:
        if key == "price":
            raise invalid_request(
                f"{prefix}[price]: this test server only knows price_data line items",
                param=f"{prefix}[price]",
            )
        if key not in ("price_data", "quantity"):
            raise unknown_param(f"{prefix}[{key}]")


def _line_item_currency(price_data, prefix, currency):
    """The line's currency, lower-cased; every line of a session shares ``currency``."""
    line_currency = price_data.get("currency")
    if not line_currency or type(line_currency) is not str:
        raise missing_param(f"{prefix}[price_data][currency]")
    line_currency = line_currency.lower()
    if currency is not None and line_currency != currency:
        raise invalid_request(
            "All line items in a Checkout Session must share the same currency "
            f"(got {currency} and {line_currency}).",
            param=f"{prefix}[price_data][currency]",
        )
    return line_currency


def _parse_line_item(line, prefix, currency):
    """One ``price_data`` line item; ``currency`` is that of the lines before it (or None)."""
    _check_line_item_keys(line, prefix)
    price_data = line.get("price_data")
    if type(price_data) is not dict:
        raise missing_param(f"{prefix}[price_data]")
    for key in price_data:
        if key not in ("currency", "unit_amount", "product_data"):
            raise unknown_param(f"{prefix}[price_data][{key}]")
    currency = _line_item_currency(price_data, prefix, currency)
    if price_data.get("unit_amount") is None:
        raise missing_param(f"{prefix}[price_data][unit_amount]")
    unit_amount = _as_int(price_data["unit_amount"], f"{prefix}[price_data][unit_amount]", 0)
    product_data = price_data.get("product_data")
    if type(product_data) is not dict or not product_data.get("name"):
        raise missing_param(f"{prefix}[price_data][product_data][name]")
    for key in product_data:
        if key not in ("name", "description"):
            raise unknown_param(f"{prefix}[price_data][product_data][{key}]")
    if line.get("quantity") is None:
        raise missing_param(f"{prefix}[quantity]")
    quantity = _as_int(line["quantity"], f"{prefix}[quantity]", 1)
    return _LineItem(str(product_data["name"]), currency, unit_amount, quantity)


def _parse_payment_intent_data(value):
    if value is None or value == "":
        return {"metadata": {}}
    if type(value) is not dict:
        raise invalid_request(
            "Invalid payment_intent_data: must be an object", param="payment_intent_data"
        )
    allowed = ("metadata", "setup_future_usage", "description", "receipt_email")
    for key in value:
        if key not in allowed:
            raise unknown_param(f"payment_intent_data[{key}]")
    _check_setup_future_usage(
        value.get("setup_future_usage"), "payment_intent_data[setup_future_usage]"
    )
    for key in ("description", "receipt_email"):
        if value.get(key) is not None and type(value[key]) is not str:
            raise invalid_request(
                f"Invalid payment_intent_data[{key}]: must be a string",
                param=f"payment_intent_data[{key}]",
            )
    parsed = dict(value)
    parsed["metadata"] = _as_metadata(value.get("metadata"), "payment_intent_data[metadata]")
    return parsed


def _checked_mode(mode):
    if not mode:
        raise missing_param("mode")
    if mode in ("subscription", "setup"):
        raise invalid_request(
            f"mode={mode} is not supported by this test server; only mode=payment is.",
            param="mode",
        )
    if mode != "payment":
        raise invalid_request(
            "Invalid mode: must be one of payment, setup, or subscription", param="mode"
        )
    return mode


def _checked_customer(params):
    """The id of the session's existing customer (None without one), after checking
    ``customer``, ``customer_email`` and ``customer_creation`` together."""
    customer = params.get("customer")
    customer_email = params.get("customer_email")
    customer_creation = params.get("customer_creation")
    if customer is not None:
        if customer_email is not None:
            raise invalid_request(
                "You may only specify one of these parameters: customer, customer_email.",
                param="customer_email",
            )
        if customer_creation is not None:
            raise invalid_request(
                "You may only specify one of these parameters: customer, customer_creation.",
                param="customer_creation",
            )
        customer = _retrieve_or_missing(Customer, customer, "customer").id
    if customer_email is not None and (
        type(customer_email) is not str or "@" not in customer_email
    ):
        raise invalid_request(
            f"Invalid email address: {customer_email}",
            param="customer_email",
            code="email_invalid",
        )
    if customer_creation is not None and customer_creation not in ("always", "if_required"):
        raise invalid_request(
            "Invalid customer_creation: must be one of always or if_required",
            param="customer_creation",
        )
    return customer


def _checked_client_reference_id(value):
    if value is not None and (type(value) is not str or len(value) > 200):
        raise invalid_request(
            "Invalid client_reference_id: must be a string of at most 200 characters",
            param="client_reference_id",
        )
    return value


def _checked_payment_method_types(value):
    payment_method_types = value or ["card"]
    if type(payment_method_types) is not list or not all(
        type(item) is str for item in payment_method_types
    ):
        raise invalid_request(
            "Invalid payment_method_types: must be an array of strings",
            param="payment_method_types",
        )
    return payment_method_types


def _checked_expires_at(expires_at):
    now = int(time.time())
    if expires_at is None:
        return now + CHECKOUT_SESSION_LIFETIME
    expires_at = _as_int(expires_at, "expires_at", 0)
    if expires_at < now + CHECKOUT_MIN_LIFETIME - EXPIRES_AT_SLACK:
        raise invalid_request(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout "
            "Session creation.",
            param="expires_at",
        )
    if expires_at > now + CHECKOUT_SESSION_LIFETIME + EXPIRES_AT_SLACK:
        raise invalid_request(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    return expires_at


class CheckoutSession(StripeObject):
    """A Checkout Session in payment mode, in Stripe's wire format.

    Every public attribute is part of the JSON (that is how StripeObject exports), so helpers
    and internal state start with an underscore.
    """

    object = "checkout.session"
    _id_prefix = "cs_test_"

    _PARAMS = (
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "customer",
        "customer_email",
        "client_reference_id",
        "metadata",
        "payment_intent_data",
        "expires_at",
        "payment_method_types",
        "customer_creation",
    )

    def __init__(self, **params):
        for key in params:
            if key not in self._PARAMS:
                raise unknown_param(key)
        mode = _checked_mode(params.get("mode"))
        line_items, currency = _parse_line_items(params.get("line_items"))
        amount_total = sum(item.amount for item in line_items)
        _check_minimum_amount(amount_total, currency, param="line_items")

        customer = _checked_customer(params)
        customer_email = params.get("customer_email")
        customer_creation = params.get("customer_creation")
        client_reference_id = _checked_client_reference_id(params.get("client_reference_id"))
        metadata = _as_metadata(params.get("metadata"), "metadata")
        payment_intent_data = _parse_payment_intent_data(params.get("payment_intent_data"))
        success_url = _as_url(params.get("success_url"), "success_url")
        cancel_url = _as_url(params.get("cancel_url"), "cancel_url")
        payment_method_types = _checked_payment_method_types(params.get("payment_method_types"))
        expires_at = _checked_expires_at(params.get("expires_at"))

        # All exceptions must be raised before this point: this stores the session.
        super().__init__()

        self.mode = mode
        self.status = "open"
        self.payment_status = "unpaid"
        self.url = f"{state.public_base}/_test/checkout/{self.id}"
        self.currency = currency
        self.amount_subtotal = amount_total
        self.amount_total = amount_total
        self.total_details = {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
        self.customer = customer
        self.customer_email = customer_email
        self.customer_creation = customer_creation
        self.customer_details = None
        self.client_reference_id = client_reference_id
        self.metadata = metadata
        self.payment_intent = None
        self.payment_method_types = payment_method_types
        self.success_url = (
            success_url.replace("{CHECKOUT_SESSION_ID}", self.id) if success_url else None
        )
        self.cancel_url = cancel_url
        self.expires_at = expires_at
        self.invoice = None
        self.subscription = None
        self.setup_intent = None
        self.ui_mode = "hosted"

        self._line_items = line_items
        self._payment_intent_data = payment_intent_data
        self._pending_customer = None
        self._attempt = None

    def _export(self, expand=None):
        expand = list(expand or [])
        with_line_items = "line_items" in expand
        if with_line_items:
            expand.remove("line_items")
        obj = super()._export(expand=expand)
        if with_line_items:
            obj["line_items"] = self._line_items_list()._export()
        return obj

    def _line_items_list(self, limit=None, starting_after=None):
        items = List(
            f"/v1/checkout/sessions/{self.id}/line_items",
            limit=limit,
            starting_after=starting_after,
        )
        items._list = list(self._line_items)
        return items

    @classmethod
    def _api_create(cls, **data):
        return cls(**data)

    @classmethod
    def _api_update(cls, id, **data):
        raise invalid_request("Checkout Sessions cannot be updated by this test server.")

    @classmethod
    def _api_delete(cls, id):
        raise UserError(405, "Method Not Allowed")

    @classmethod
    def _api_list_all(
        cls,
        url,
        customer=None,
        payment_intent=None,
        status=None,
        limit=None,
        starting_after=None,
        **kwargs,
    ):
        if kwargs:
            raise unknown_param(next(iter(kwargs)))
        sessions = super()._api_list_all(url, limit=limit, starting_after=starting_after)
        sessions._list = [
            session
            for session in sessions._list
            if (customer is None or session.customer == customer)
            and (payment_intent is None or session.payment_intent == payment_intent)
            and (status is None or session.status == status)
        ]
        sessions._list.sort(key=lambda session: session.created, reverse=True)
        return sessions

    @classmethod
    def _api_list_line_items(cls, id, limit=None, starting_after=None, **kwargs):
        if kwargs:
            raise unknown_param(next(iter(kwargs)))
        return cls._api_retrieve(id)._line_items_list(limit=limit, starting_after=starting_after)

    @classmethod
    def _api_expire(cls, id, **kwargs):
        if kwargs:
            raise unknown_param(next(iter(kwargs)))
        session = cls._api_retrieve(id)
        if session.status != "open":
            raise invalid_request(
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f"session has status {session.status}.",
                code="checkout_session_not_open",
            )
        session.status = "expired"
        session.url = None
        if session._attempt is not None:
            attempt = PaymentIntent._api_retrieve(session._attempt)
            if attempt.status not in ("succeeded", "canceled"):
                attempt._canceled = True
        _schedule(Event("checkout.session.expired", session))
        return session

    def _pay(self, card_number, email=None):
        """What Stripe's hosted page does when the customer submits a card."""
        if self.status != "open":
            raise invalid_request(
                f"This Checkout Session is no longer open (status {self.status}).",
                code="checkout_session_not_open",
            )
        if type(card_number) is not str or len(card_number) != 16 or not card_number.isdigit():
            raise invalid_request("card_number must be 16 digits", param="card_number")
        email = email or self.customer_email
        if email is None and self.customer is not None:
            email = Customer._api_retrieve(self.customer).email
        email = email or "customer@example.com"

        payment_method = PaymentMethod(
            type="card",
            card={"number": card_number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            billing_details={"email": email},
        )
        data = self._payment_intent_data
        setup_future_usage = data.get("setup_future_usage")
        customer = self.customer or self._pending_customer
        if customer is None and (setup_future_usage or self.customer_creation == "always"):
            customer = Customer(email=email).id
            # Kept across a declined attempt so a retry does not create a second customer.
            self._pending_customer = customer

        if self._attempt is None:
            intent = PaymentIntent(
                amount=self.amount_total,
                currency=self.currency,
                customer=customer,
                payment_method=payment_method.id,
                metadata=dict(data["metadata"]),
                setup_future_usage=setup_future_usage,
                description=data.get("description"),
                receipt_email=data.get("receipt_email"),
            )
            self._attempt = intent.id
        else:
            intent = PaymentIntent._api_retrieve(self._attempt)
            intent._update(payment_method=payment_method.id)

        intent._confirm(on_failure_now=intent._report_failure)
        if intent.status == "requires_action":
            # The hosted page runs 3-D Secure; the customer passes it.
            PaymentIntent._api_authenticate(
                intent.id, client_secret=intent.client_secret, success=True
            )
        if intent.status not in ("succeeded", "requires_capture"):
            raise UserError(
                402,
                "The payment could not be completed.",
                {"code": "payment_intent_unexpected_state"},
            )

        self.status = "complete"
        self.payment_status = "paid"
        self.payment_intent = intent.id
        self.customer = customer
        self.url = None
        self.customer_details = {
            "address": None,
            "email": email,
            "name": None,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }
        _schedule(Event("checkout.session.completed", self))
        return self


# --- webhooks ------------------------------------------------------------------------------


def _webhook_wants(webhook, event_type):
    return webhook.events is None or "*" in webhook.events or event_type in webhook.events


def _schedule(event):
    task = asyncio.ensure_future(_send_webhook(event, state.generation))
    # The event loop keeps only weak references to tasks; hold a strong one until it is done.
    state.deliveries.add(task)
    task.add_done_callback(state.deliveries.discard)


async def _send_webhook(event, generation=None):
    """localstripe's delivery with a shorter delay. Signing is unchanged: Stripe-Signature
    t=<event.created>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    if generation is None:
        generation = state.generation
    payload = json.dumps(event._export(), indent=2, sort_keys=True)
    payload = payload.encode("utf-8")
    signed_payload = str(event.created).encode("ascii") + b"." + payload

    await asyncio.sleep(WEBHOOK_DELAY_SECONDS)

    if state.delivery_lock is None:
        state.delivery_lock = asyncio.Lock()
    # One delivery at a time, in the order events were created, so receivers see a
    # deterministic sequence.
    async with state.delivery_lock:
        if generation != state.generation:
            return
        for webhook in list(webhooks._webhooks.values()):
            if not _webhook_wants(webhook, event.type):
                continue
            signature = hmac.new(
                webhook.secret.encode("utf-8"), signed_payload, hashlib.sha256
            ).hexdigest()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": f"t={event.created},v1={signature}",
            }
            try:
                async with (
                    ClientSession(timeout=ClientTimeout(total=5)) as session,
                    session.post(webhook.url, data=payload, headers=headers) as response,
                ):
                    logger.info(
                        'webhook "%s" delivered to %s: %d',
                        event.type,
                        webhook.url,
                        response.status,
                    )
            except (TimeoutError, ClientError) as error:
                logger.info('webhook "%s" to %s failed: %s', event.type, webhook.url, error)


# --- middlewares and routes ----------------------------------------------------------------


def _error_response(status, error_type, message, **extra):
    return server.json_response(
        {"error": {"type": error_type, "message": message, **extra}}, status=status
    )


async def _parsed_body(request):
    if request.method not in ("POST", "PUT", "PATCH", "DELETE") or not await request.read():
        return {}
    try:
        data = await server.get_post_data(request, remove_auth=False)
    except (UnicodeDecodeError, ValueError):
        return {"_raw": (await request.read()).decode("latin-1")}
    if isinstance(data, dict):
        return data
    return {"_json": data} if data else {}


async def _call(request, handler):
    """The handler's response, with routing failures and crashes in Stripe's error shape."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if request.path.startswith("/v1/") and error.status in (404, 405):
            return _error_response(
                404,
                "invalid_request_error",
                f"Unrecognized request URL ({request.method}: {request.path}).",
            )
        raise
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        response = _error_response(500, "api_error", "localstripe failed on this request.")
        # The SDK retries 5xx; retrying a crash only slows the test down.
        response.headers["Stripe-Should-Retry"] = "false"
        return response


async def _idempotent_call(request, handler, key, body, log_entry):
    lock = state.locks.setdefault(key, asyncio.Lock())
    # Holding the key's lock while executing means a concurrent duplicate waits and then
    # replays instead of running a second time.
    async with lock:
        stored = state.idempotency.get(key)
        if stored is not None:
            if (stored.method, stored.path, stored.body) != (
                request.method,
                request.path_qs,
                body,
            ):
                return _error_response(400, "idempotency_error", IDEMPOTENCY_CONFLICT)
            log_entry["replayed"] = True
            response = web.Response(
                body=stored.payload,
                status=stored.status,
                headers={"Content-Type": stored.content_type},
            )
            response.headers["Idempotent-Replayed"] = "true"
            response.headers["Original-Request"] = stored.request_id
            return response

        response = await _call(request, handler)
        if response.status not in NOT_SAVED_STATUSES and isinstance(
            response.body, (bytes, bytearray)
        ):
            state.idempotency[key] = _StoredResponse(
                method=request.method,
                path=request.path_qs,
                body=body,
                status=response.status,
                payload=bytes(response.body),
                content_type=response.headers.get("Content-Type", "application/json"),
                request_id=log_entry["request_id"],
            )
        return response


@web.middleware
async def idempotency_middleware(request, handler):
    if request.path.startswith("/_config/") or request.path == "/_test/requests":
        # Harness control: neither logged nor idempotent.
        if request.method == "DELETE" and request.path == "/_config/data":
            reset_state()
            return web.Response()
        return await handler(request)

    key = request.headers.get("Idempotency-Key") or None
    body = await request.read()
    request_id = "req_" + random_id(14)
    log_entry = {
        "method": request.method,
        "path": request.path,
        "idempotency_key": key,
        "body": await _parsed_body(request),
        "query": server.unflatten_data(request.query),
        "replayed": False,
        "status": None,
        "request_id": request_id,
    }
    state.request_log.append(log_entry)
    token = _current_request.set(_RequestContext(request_id, key))
    try:
        if request.method == "POST" and key:
            response = await _idempotent_call(request, handler, key, body, log_entry)
            response.headers["Idempotency-Key"] = key
        else:
            response = await _call(request, handler)
    except web.HTTPException as error:
        log_entry["status"] = error.status
        raise
    finally:
        _current_request.reset(token)
    log_entry["status"] = response.status
    response.headers["Request-Id"] = request_id
    return response


@web.middleware
async def auth_middleware(request, handler):
    """localstripe's authentication, except for the test-only /_test/ routes."""
    if request.path.startswith("/_test/"):
        return await handler(request)
    return await server.auth_middleware(request, handler)


async def _list_requests(request):
    return server.json_response({"requests": state.request_log})


async def _decline_payment_method(request):
    payment_method_id = request.match_info["id"]
    PaymentMethod._api_retrieve(payment_method_id)  # 404 in Stripe's shape when unknown
    state.declining.add(payment_method_id)
    return server.json_response({"id": payment_method_id, "declining": True})


async def _clear_requests(request):
    state.request_log.clear()
    return server.json_response({"requests": []})


async def _create_checkout_session(request):
    data = await server.get_post_data(request) or {}
    if not isinstance(data, dict):
        raise invalid_request("Request body must be an object")
    expand = data.pop("expand", None)
    return server.json_response(CheckoutSession._api_create(**data)._export(expand=expand))


async def _pay_checkout_session(request):
    data = await server.get_post_data(request) or {}
    if not isinstance(data, dict):
        data = {}
    session = CheckoutSession._api_retrieve(request.match_info["id"])
    card_number = str(data.get("card_number") or DEFAULT_CARD_NUMBER).replace(" ", "")
    return server.json_response(session._pay(card_number, email=data.get("email"))._export())


async def _checkout_page(request):
    session = CheckoutSession._api_retrieve(request.match_info["id"])
    amount = f"{session.amount_total / 100:.2f} {session.currency.upper()}"
    page = (
        "<!doctype html><title>Test checkout</title>"
        f"<h1>Pay {html.escape(amount)}</h1>"
        f"<p>Checkout Session {html.escape(session.id)}: {html.escape(session.status)}.</p>"
    )
    return web.Response(text=page, content_type="text/html")


def _replace_route(app, method, path, handler):
    """Swap the handler of a route localstripe registered. Its extra routes hold the original
    bound methods, so patching the class alone would not reach them."""
    for route in app.router.routes():
        if route.method == method and route.resource.canonical == path:
            route._handler = handler
            return
    raise LookupError(f"localstripe has no route {method} {path}")


def _install_patches():
    Store.dump_to_disk = lambda self: None
    Store.try_load_from_disk = lambda self: None

    UserError.__init__ = _user_error_init
    StripeObject._api_retrieve = _stripe_object_retrieve
    Event.__init__ = _event_init

    PaymentMethod._charging_is_declined = _charging_is_declined
    Charge._set_auth_failure = _charge_set_auth_failure
    Charge._raise_failure = _charge_raise_failure
    Charge.amount_captured = property(_charge_amount_captured)
    Charge.outcome = property(_charge_outcome)

    PaymentIntent.__init__ = _pi_init
    PaymentIntent._api_create = _pi_api_create
    PaymentIntent._api_confirm = _pi_api_confirm
    PaymentIntent._update = _pi_update
    PaymentIntent._on_success = _pi_on_success
    PaymentIntent._create_charge = _pi_create_charge
    PaymentIntent._report_failure = _pi_report_failure
    PaymentIntent._report_async_failure = _pi_report_async_failure
    PaymentIntent.last_payment_error = property(_pi_last_payment_error)
    PaymentIntent._export = _pi_export

    Refund.__init__ = _refund_init

    # resources imported schedule_webhook by name, so both modules need the faster one.
    webhooks.schedule_webhook = _schedule
    resources.schedule_webhook = _schedule
    webhooks._send_webhook = _send_webhook


def build_app(public_base: str | None = None) -> web.Application:
    """localstripe's app with the extensions above. Call before the app starts (middlewares
    and routes cannot change once aiohttp freezes it); calling twice is harmless."""
    app = server.app
    if public_base is not None:
        state.public_base = public_base
    # The flag lives on localstripe's module so that a second import of this file (under
    # another name) cannot wrap the already wrapped functions again.
    if getattr(server, "_test_extensions_installed", False):
        return app
    server._test_extensions_installed = True

    _install_patches()

    middlewares = app.middlewares
    middlewares[middlewares.index(server.auth_middleware)] = auth_middleware
    # First in the list = outermost: a replay must not run localstripe's handlers at all.
    middlewares.insert(0, idempotency_middleware)

    _replace_route(
        app,
        "POST",
        "/v1/payment_intents/{id}/confirm",
        server.api_extra(PaymentIntent._api_confirm, "/v1/payment_intents/{id}/confirm"),
    )

    router = app.router
    router.add_get(
        "/v1/customers/{id}/payment_methods",
        server.api_extra(_list_customer_payment_methods, "/v1/customers/{id}/payment_methods"),
    )

    sessions_url = "/v1/checkout/sessions"
    router.add_post(sessions_url, _create_checkout_session)
    router.add_get(sessions_url, server.api_list_all(CheckoutSession, sessions_url))
    router.add_get(
        sessions_url + "/{id}/line_items",
        server.api_extra(CheckoutSession._api_list_line_items, sessions_url + "/{id}/line_items"),
    )
    router.add_post(
        sessions_url + "/{id}/expire",
        server.api_extra(CheckoutSession._api_expire, sessions_url + "/{id}/expire"),
    )
    router.add_get(
        sessions_url + "/{id}", server.api_retrieve(CheckoutSession, sessions_url + "/{id}")
    )
    router.add_post("/_test/checkout/sessions/{id}/pay", _pay_checkout_session)
    router.add_get("/_test/checkout/{id}", _checkout_page)
    router.add_post("/_test/payment_methods/{id}/decline", _decline_payment_method)
    router.add_get("/_test/requests", _list_requests)
    router.add_delete("/_test/requests", _clear_requests)
    return app


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = build_app(public_base=f"http://127.0.0.1:{args.port}")
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=logging.getLogger("aiohttp.access"),
        print=logger.info,
    )


if __name__ == "__main__":
    main()
