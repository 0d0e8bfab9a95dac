"""The payment gateway interface every payment plugin implements (Stripe, PayPal, YooKassa).

Money crosses this boundary as ``Decimal`` with a currency. How many decimal places a currency
has is the catalog's to say, never a gateway's: every request billing sends carries the
currency's places (``currency_places``), and a gateway converts to the provider's minor units
with ``to_minor_units`` / ``from_minor_units`` and those places. What a provider reports on its
own (a webhook event, a session's status) stays in the provider's minor units (``*_minor``
fields): billing turns it into ``Decimal`` with the currency's places. Results are plain
dataclasses so billing code never touches a provider SDK object.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


class GatewayError(Exception):
    """The provider refused or failed a call; rendered as 502 provider_error by the caller."""


class ProviderUnavailable(Exception):
    """The provider could not be reached or did not answer in time: the outcome of the call is
    unknown (it may have happened). Never a decline; a retry sends the same idempotency key."""


class InvalidSignature(Exception):
    """A webhook's signature did not verify; nothing may be processed."""


class NotConfigured(Exception):
    """A secret the call needs (API key, webhook secret) is not configured."""


def to_minor_units(amount: Decimal, currency: str, places: int) -> int:
    """9.99 EUR with 2 places → 999; refuses amounts with more places than the currency has."""
    scaled = amount.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimal places than {currency} allows")
    return int(scaled)


def from_minor_units(value: int, places: int) -> Decimal:
    """999 with 2 places → 9.99 (always with exactly ``places`` places: 10.00, not 10)."""
    return Decimal(value).scaleb(-places).quantize(Decimal(1).scaleb(-places))


@dataclass(frozen=True)
class PaymentLine:
    description: str
    quantity: int
    amount: Decimal  # gross total of the line, in the payment currency


@dataclass(frozen=True)
class PaymentRequest:
    """One invoice to be paid through the provider."""

    invoice_id: str
    user_id: str
    amount: Decimal
    currency: str
    currency_places: int  # the currency's decimal places, as the catalog has them
    description: str
    success_url: str
    cancel_url: str
    lines: tuple[PaymentLine, ...] = ()
    customer_email: str | None = None
    save_payment_method: bool = False
    idempotency_key: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentSession:
    session_id: str
    session_url: str | None
    client_secret: str | None
    expires_at: Any  # aware datetime or None
    saves_payment_method: bool = False


@dataclass(frozen=True)
class SavedMethod:
    """A payment method the provider keeps for off-session charges, and its customer."""

    payment_method_id: str
    customer_id: str | None = None


@dataclass(frozen=True)
class SessionStatus:
    session_id: str
    status: str  # open / complete / expired / failed (the gateway session status values)
    payment_status: str  # the provider's raw value
    external_payment_id: str | None
    amount_minor: int | None  # in the provider's minor units of ``currency``
    currency: str | None
    saved_payment_method_id: str | None = None
    saved_customer_id: str | None = None


class EventAction:
    """What a provider event means for billing."""

    CAPTURE = "capture"  # money received for an invoice
    FAIL = "fail"  # a payment attempt failed or its session expired
    REFUND = "refund"  # money went back; ``refunded_total_minor`` is the payment's refunded sum
    REFUND_REVERSED = "refund_reversed"  # the provider undid the refund ``refund_id``
    IGNORE = "ignore"


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event_type: str
    payload: dict
    action: str = EventAction.IGNORE
    # The provider's payment (Stripe: the PaymentIntent) and the session it was paid through
    # (Stripe Checkout: cs_…; Elements: the PaymentIntent itself).
    external_payment_id: str | None = None
    session_id: str | None = None
    # From the provider-side metadata our session or charge set: names, never proves, the
    # invoice and the claiming payment; billing ties the event to its own records first.
    invoice_id: str | None = None
    payment_id: str | None = None
    # Amounts as the provider sent them, in its minor units of ``currency`` (cents, yen).
    amount_minor: int | None = None
    currency: str | None = None
    saved_payment_method_id: str | None = None
    saved_customer_id: str | None = None
    refunded_total_minor: int | None = None
    refund_id: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    status: str  # succeeded / pending / failed
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class ChargeResult:
    external_payment_id: str
    status: str  # succeeded / pending / failed
    amount: Decimal
    currency: str
    failure_reason: str | None = None


class PaymentGateway(abc.ABC):
    """One payment provider. Instances are cheap; build one per use from the plugin config."""

    #: plugin name (``stripe``); also the ``provider`` of payments and events
    name: str = ""
    #: can keep a payment method for off-session renewal charges
    supports_saved_methods: bool = False
    supports_partial_refunds: bool = True
    #: upper-case ISO codes; empty means every currency the provider takes
    currencies: frozenset[str] = frozenset()

    def supports_currency(self, currency: str) -> bool:
        return not self.currencies or currency.upper() in self.currencies

    @abc.abstractmethod
    def create_session(self, request: PaymentRequest) -> PaymentSession:
        """Starts a hosted payment for ``request``; raises GatewayError or NotConfigured."""

    @abc.abstractmethod
    def session_status(self, session_id: str) -> SessionStatus:
        """Reads a session from the provider (server to server)."""

    @abc.abstractmethod
    def parse_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """Verifies the signature on the raw body first (InvalidSignature), then parses, without
        calling the provider."""

    def completion_needed(self, event: WebhookEvent) -> bool:
        """Whether ``complete_event`` must ask the provider about this event."""
        return False

    def complete_event(self, event: WebhookEvent) -> WebhookEvent:
        """Reads what the event leaves out from the provider (say, the payment method a payment
        kept). Called only for a new event that needs it, after the duplicate check and before
        any row is locked."""
        return event

    @abc.abstractmethod
    def refund(
        self,
        *,
        external_payment_id: str,
        amount: Decimal,
        currency: str,
        currency_places: int,
        idempotency_key: str | None = None,
    ) -> RefundResult:
        """Refunds all or part of a captured payment; ``currency_places`` are the currency's
        decimal places, as the catalog has them."""

    def charge_saved_method(
        self,
        *,
        saved_payment_method_id: str,
        request: PaymentRequest,
        customer_id: str | None = None,
    ) -> ChargeResult:
        """Charges a kept payment method off-session (renewals) with ``request.idempotency_key``;
        only where supported. A decline raises GatewayError or answers status ``failed``."""
        raise GatewayError(f"{self.name} cannot charge a saved payment method")

    def dashboard_url(self, external_payment_id: str) -> str | None:
        """Where staff see this payment in the provider's own dashboard, if it has one."""
        return None


def gateway_for(name: str) -> PaymentGateway:
    """A gateway instance of the installed plugin ``name`` (its capability's dotted class path).

    Raises NotConfigured when the plugin is not installed or has no gateway. Whether the plugin
    is enabled is the caller's check (payment methods answer it with ``is_available``).
    """
    from django.utils.module_loading import import_string

    from plugins import registry

    config = registry.installed().get(name)
    path = getattr(getattr(config, "capabilities", None), "payment_gateway", None)
    if not path:
        raise NotConfigured(f"{name} is not a payment gateway")
    gateway_class = import_string(path)
    return gateway_class()
