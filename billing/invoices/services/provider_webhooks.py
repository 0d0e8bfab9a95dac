"""Inbound webhooks of the payment gateways: one pipeline for every gateway plugin.

1. The gateway verifies the signature on the raw body before anything else (by itself, or by
   asking the provider); a bad signature is answered 400 and nothing is stored.
2. The event is stored once per (provider, event id); a repeat of a processed event is
   acknowledged as a duplicate and changes nothing.
3. In one transaction, with the stored event locked, what the event means (its ``action``) is
   carried out through the billing services: capture, a failed attempt, a refund, a refund
   reversal. If that raises unexpectedly the answer is 500 and the event stays unprocessed, so
   the provider's retry processes it. A refusal by a billing rule is final: the invoice is
   flagged for staff and the event is processed.

An event is tied to an invoice only through our own records (the session we opened, the payment
the provider reported before, or the claiming payment named in the metadata we sent); the
invoice id in the provider's metadata alone never pays an invoice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from audit.models import ActorType
from billing.catalog.models import Currency
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places
from billing.invoices.models import (
    CreditNote,
    Invoice,
    Payment,
    ProviderEvent,
    ProviderEventStatus,
    Refund,
    RefundStatus,
)
from billing.invoices.services.capture import invoice_capture, invoice_flag, payment_fail
from billing.invoices.services.claims import provider_call_allowed
from billing.invoices.services.events import ProviderEventOutcome, provider_event_handle
from billing.invoices.services.refunds import (
    invoice_refund,
    invoice_refund_reverse,
    refund_claim_complete,
)
from billing.invoices.services.sessions import (
    ProviderError,
    gateway_or_unavailable,
    provider_amount,
)
from plugins import gateway as gateways
from plugins.gateway import EventAction, WebhookEvent
from vbwd.exceptions import DomainError, ServiceUnavailable
from vbwd.money import round_money

logger = logging.getLogger(__name__)


class InvalidSignatureError(DomainError):
    status_code = 400
    code = "invalid_signature"
    default_message = "Invalid signature"


def provider_webhook_receive(
    *, gateway_name: str, headers: dict[str, str], body: bytes
) -> ProviderEventOutcome:
    """Verifies, stores and processes one provider webhook delivery (see the module docstring);
    returns the outcome, whose ``duplicate`` says the event had been processed before."""
    gateway = gateway_or_unavailable(gateway_name)
    try:
        event = gateway.parse_webhook(headers, body)
    except gateways.InvalidSignature:
        raise InvalidSignatureError() from None
    except gateways.NotConfigured:
        raise ServiceUnavailable("Webhook secret is not configured") from None
    except (gateways.GatewayError, gateways.ProviderUnavailable) as error:
        # A provider that verifies its deliveries itself could not be asked; nothing was
        # stored, and the provider's retry comes again.
        raise ProviderError(f"Payment provider error: {error}") from None
    if gateway.completion_needed(event):
        processed = ProviderEvent.objects.filter(
            provider=gateway_name, event_id=event.event_id, status=ProviderEventStatus.PROCESSED
        ).first()
        if processed is not None:
            return ProviderEventOutcome(event=processed, duplicate=True)  # nothing to ask
        event = _completed(gateway, gateway_name, event)
    try:
        return provider_event_handle(
            provider=gateway_name,
            event_id=event.event_id,
            event_type=event.event_type,
            payload=event.payload,
            handler=lambda stored: _apply(gateway_name, event),
        )
    except DomainError as refusal:
        return _refused(gateway_name, event, refusal)


def _completed(gateway, name: str, event: WebhookEvent) -> WebhookEvent:
    """The event with what the provider adds to it, read before any row is locked."""
    provider_call_allowed("Completing a provider event")
    try:
        return gateway.complete_event(event)
    except gateways.NotConfigured:
        raise ServiceUnavailable(f"{name} is not configured") from None
    except (gateways.GatewayError, gateways.ProviderUnavailable) as error:
        # The provider's retry of the event comes again; nothing was stored.
        raise ProviderError(f"Payment provider error: {error}") from None


def _apply(name: str, event: WebhookEvent):
    handler = {
        EventAction.CAPTURE: _capture,
        EventAction.FAIL: _fail,
        EventAction.REFUND: _refund,
        EventAction.REFUND_REVERSED: _refund_reversed,
    }.get(event.action)
    return handler(name, event) if handler is not None else None


def _refused(name: str, event: WebhookEvent, refusal: DomainError) -> ProviderEventOutcome:
    """A billing rule refused what the provider reports (say, a refund of an invoice that is no
    longer paid). A retry would be refused again, so the event counts as processed, with the
    refusal noted, and staff look at the invoice instead."""
    logger.warning("%s event %s refused: %s", name, event.event_id, refusal.message)
    with transaction.atomic():
        stored = ProviderEvent.objects.select_for_update().get(
            provider=name, event_id=event.event_id
        )
        if stored.status == ProviderEventStatus.PROCESSED:
            return ProviderEventOutcome(event=stored, duplicate=True)  # a redelivery was first
        stored.processed(at=timezone.now(), note=f"Refused: {refusal.message}"[:2000])
        stored.save(update_fields=["status", "processed_at", "error"])
        payment = _tied_payment(name, event)
        if payment is not None:
            invoice_flag(
                invoice_id=payment.invoice_id,
                reason=f"{name} event {event.event_type} ({event.event_id}) could not be "
                f"applied: {refusal.message}",
                actor_type=ActorType.PROVIDER,
                actor_label=name,
            )
    return ProviderEventOutcome(event=stored, duplicate=False)


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class _Tie:
    """The columns of our payment row that an event needs (read without building a model)."""

    pk: uuid.UUID
    invoice_id: uuid.UUID
    external_id: str | None
    session_id: str | None
    currency: str
    provider_data: dict
    places: int | None  # of ``currency``, read with the row; None for a code the catalog lacks

    def places_of(self, code: str) -> int:
        """Decimal places of ``code``, the catalog's; this row's currency costs no query."""
        if code == self.currency and self.places is not None:
            return self.places
        return currency_places(code)


def _tied_payment(name: str, event: WebhookEvent) -> _Tie | None:
    """Our payment row the event is about: the provider's payment we recorded, the session we
    opened, or the claiming payment our metadata names (still without a provider id, or with
    this one)."""
    wanted = Q(pk__in=[])
    if event.external_payment_id:
        wanted |= Q(external_id=event.external_payment_id)
    if event.session_id:
        wanted |= Q(session_id=event.session_id)
    claim_id = _as_uuid(event.payment_id)
    if claim_id is not None:
        wanted |= Q(pk=claim_id)
    places = Currency.objects.filter(code=OuterRef("currency")).values("decimal_places")[:1]
    rows = [
        _Tie(*row)
        for row in Payment.objects.filter(wanted, gateway=name)
        .annotate(places=Subquery(places))
        .order_by("-created_at")
        .values_list(
            "id", "invoice_id", "external_id", "session_id", "currency", "provider_data", "places"
        )[:10]
    ]
    for matches in (
        lambda row: event.external_payment_id and row.external_id == event.external_payment_id,
        lambda row: event.session_id and row.session_id == event.session_id,
        lambda row: row.pk == claim_id and row.external_id in (None, event.external_payment_id),
    ):
        payment = next((row for row in rows if matches(row)), None)
        if payment is not None:
            return payment
    return None


def _untied(name: str, event: WebhookEvent) -> None:
    """A payment we cannot tie to any of our sessions or charges: never captured; an invoice
    its metadata names is flagged, because money may have reached the provider for it."""
    invoice_id = _as_uuid(event.invoice_id)
    if invoice_id is None or not Invoice.objects.filter(pk=invoice_id).exists():
        logger.info("%s event %s names no payment of ours; ignored", name, event.event_id)
        return
    amount = ""
    if event.amount_minor is not None and event.currency:
        code = event.currency.upper()
        places = currency_places(code)
        paid = provider_amount(event.amount_minor, code, places=places)
        amount = f" of {format_money(paid, places)} {code}"
    invoice_flag(
        invoice_id=invoice_id,
        reason=f"Payment {event.external_payment_id}{amount} via {name} names this invoice but "
        "is none of its sessions or charges; not captured",
        actor_type=ActorType.PROVIDER,
        actor_label=name,
    )


def _capture(name: str, event: WebhookEvent):
    payment = _tied_payment(name, event)
    if payment is None:
        return _untied(name, event)
    named = _as_uuid(event.invoice_id)
    if named is not None and named != payment.invoice_id:
        invoice_flag(
            invoice_id=payment.invoice_id,
            reason=f"{name} payment {event.external_payment_id} belongs to this invoice but its "
            f"metadata names invoice {named}; not captured",
            actor_type=ActorType.PROVIDER,
            actor_label=name,
        )
        return None
    saved = None
    if event.saved_payment_method_id:
        saved = gateways.SavedMethod(
            payment_method_id=event.saved_payment_method_id,
            customer_id=event.saved_customer_id,
        )
    currency = event.currency or payment.currency
    return invoice_capture(
        invoice_id=payment.invoice_id,
        gateway=name,
        external_id=event.external_payment_id,
        amount=provider_amount(
            event.amount_minor, currency, places=payment.places_of(currency.upper())
        ),
        currency=currency,
        payment_id=payment.pk,
        provider_data={
            **(payment.provider_data or {}),
            "event_id": event.event_id,
            "event_type": event.event_type,
        },
        actor_type=ActorType.PROVIDER,
        actor_label=name,
        saved_method=saved,
    )


def _fail(name: str, event: WebhookEvent):
    payment = _tied_payment(name, event)
    if payment is None:
        return None
    return payment_fail(
        payment_id=payment.pk,
        reason=event.failure_reason or f"{name}: {event.event_type}",
        actor_type=ActorType.PROVIDER,
        actor_label=name,
    )


def _refund(name: str, event: WebhookEvent):
    """The provider reports the payment's refunded total. What our refund claims asked for is
    recorded as theirs; only the rest (a refund made at the provider) is a provider refund."""
    payment = _tied_payment(name, event)
    if payment is None or event.refunded_total_minor is None:
        return None
    code = (event.currency or payment.currency).upper()
    refunded_total = provider_amount(
        event.refunded_total_minor, code, places=payment.places_of(code)
    )
    places = payment.places_of(payment.currency)
    with transaction.atomic():
        Invoice.objects.select_for_update().get(pk=payment.invoice_id)
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        # Amounts are stored with four places; the provider's are in the currency's own.
        missing = round_money(refunded_total, places) - round_money(payment.refunded_amount, places)
        claims = Refund.objects.filter(payment=payment, status=RefundStatus.PENDING).order_by(
            "created_at"
        )
        for claim in claims:
            if claim.amount > missing:
                break
            refund_claim_complete(refund_id=claim.pk, provider_refund_id=event.refund_id)
            missing -= claim.amount
        if missing <= 0:
            return None
        return invoice_refund(
            invoice_id=payment.invoice_id,
            amount=missing,
            provider_initiated=True,
            actor_label=name,
            refund_reference=event.refund_id,
            reason=f"Refunded at {name}",
        )


def _refund_reversed(name: str, event: WebhookEvent):
    if not event.refund_id:
        return None
    notes = CreditNote.objects.filter(payment__gateway=name)
    note = (
        notes.filter(refund__provider_refund_id=event.refund_id).first()
        or notes.filter(refund_reference=event.refund_id).first()
    )
    if note is None:
        return None
    return invoice_refund_reverse(credit_note_id=note.pk, actor_label=name)
